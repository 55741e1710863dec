"""Execute the analyst notebooks (stored as jupytext percent scripts) and fail on any cell error.

>>> sorted(p.name for p in notebook_paths())[:1]
['agreement.py']
"""

from __future__ import annotations

import os
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def notebook_paths(directory: Path = NOTEBOOK_DIR) -> list[Path]:
    return sorted(p for p in directory.glob("*.py") if p.read_text(encoding="utf-8").startswith("# ---"))


def execute(path: Path, env: dict[str, str | None], out_dir: Path | None = None, timeout: int = 300,
            cwd: Path | None = None):
    """Run every cell in a fresh kernel started in ``cwd`` (default: the notebook's own folder, as an
    analyst opens it); ``env`` values of None unset the variable. An error in any cell raises
    nbclient's CellExecutionError."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    old = {k: os.environ.get(k) for k in env}
    for k, v in env.items():  # the kernel inherits the environment
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(cwd or path.parent)}})
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out_dir / (path.stem + ".ipynb"))
    return nb


def figures(nb) -> int:
    """How many images the executed notebook drew (inline PNG outputs)."""
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []))
