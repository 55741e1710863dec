"""Start, stop and register the ML backend: the process control lives with oma's other server lifecycle
code in :mod:`oma_analysis.lifecycle.backend` (oma imports nothing from ``ml_backend``); this module
keeps the names the backend's callers use."""

from oma_analysis.lifecycle.backend import (  # noqa: F401 - re-exported
    DEFAULT_PORT,
    BackendState,
    _auth,
    backend_home,
    connect,
    credentials_file,
    start,
    stop,
    wait_ready,
)
