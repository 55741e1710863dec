"""Root conftest: where the doctests and the CLI runs of a test session find what lies outside the
package (oma_analysis.locations): the shared data sets beside the checkout and the checkout's manual.
Set only when the environment does not already say so."""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent
os.environ.setdefault("OMA_SHARED_DIR", str((_ROOT / ".." / "shared").resolve()))
os.environ.setdefault("OMA_MANUAL_DIR", str(_ROOT / "manual"))
# Label Studio and the ML backend run in their own environments, built by `make install` beside .venv.
os.environ.setdefault("OMA_LABEL_STUDIO", str(_ROOT / ".venv-ls" / "bin" / "label-studio"))
os.environ.setdefault("OMA_BACKEND_PYTHON", str(_ROOT / ".venv-backend" / "bin" / "python"))

# Tests that import the backend's model class run in the backend's environment (tests/test_environments.py).
collect_ignore = ["tests/backend_env"] if os.environ.get("OMA_IN_BACKEND_ENV") != "1" else []
