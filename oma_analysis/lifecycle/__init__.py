"""Lifecycle of oma's background servers: Label Studio (``oma_analysis.labelstudio.server``) and the ML
backend (:mod:`oma_analysis.lifecycle.backend`) share ``oma_home()``, ports and process-group control
(:mod:`oma_analysis.lifecycle.procs`). Nothing here imports ``ml_backend``: the backend imports from here."""

from oma_analysis.lifecycle.procs import alive, free_port, oma_home, terminate_group

__all__ = ["alive", "free_port", "oma_home", "terminate_group"]
