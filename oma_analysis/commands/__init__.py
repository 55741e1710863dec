"""Subcommands of ``oma``: one module each, discovered by oma_analysis.cli."""
