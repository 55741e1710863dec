"""oma: the obvious-misalignment metric (rubric, Label Studio loop, analysis)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("oma")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"


class OmaError(Exception):
    """The one error type oma raises for bad input or a failed operation; its message says
    which file, task and field (or which server and step) went wrong."""
