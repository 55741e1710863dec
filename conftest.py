"""Root conftest: where the doctests and the CLI runs of a test session find what lies outside the
package (oma_analysis.locations): the shared data sets beside the checkout and the checkout's manual.
Set only when the environment does not already say so."""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent
os.environ.setdefault("OMA_SHARED_DIR", str((_ROOT / ".." / "shared").resolve()))
os.environ.setdefault("OMA_MANUAL_DIR", str(_ROOT / "manual"))
