"""The backend's credentials: always required, generated on first start, kept like Label Studio's.
Defined in :mod:`oma_analysis.lifecycle.backend` (``oma backend up`` needs them without importing the
backend); the backend reads them through this module."""

from oma_analysis.lifecycle.backend import (  # noqa: F401 - re-exported
    MIN_PASSWORD,
    USER,
    check_bind,
    credentials_path,
    is_loopback,
    load_or_create,
)
