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


def execute(path: Path, env: dict[str, str], out_dir: Path | None = None, timeout: int = 300):
    """Run every cell in a fresh kernel; an error in any cell raises nbclient's CellExecutionError."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": os.getcwd()}})
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
