"""Load an analysis input through the loader and say, on stderr, what was set aside.

>>> import tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "long.csv")
>>> _ = open(p, "w").write("task,worker,label\\n1,a,ambiguous\\n2,,ambiguous\\n")
>>> loaded = load(p, quiet=True)
>>> len(loaded.frame), loaded.n_dropped
(1, 1)
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["load", "report_dropped"]


def report_dropped(source: str, dropped, what: str = "annotation(s)") -> None:
    """One stderr line per reason: bad rows are reported, never silently lost."""
    if dropped is None or len(dropped) == 0:
        return
    for reason, n in dropped.groupby("reason").size().items():
        print(f"oma: {source}: {n} {what} set aside: {reason}", file=sys.stderr)


def load(path: str | Path, codemap: str | Path | None = None, quiet: bool = False):
    """``oma_analysis.ingest.loader.read_input`` plus a stderr summary of dropped rows."""
    from oma_analysis.ingest.loader import read_input

    loaded = read_input(path, codemap)
    if not quiet:
        report_dropped(str(path), loaded.dropped)
    return loaded
