"""The ``oma`` command.

Subcommands live in ``oma_analysis/commands/<name>.py``; each module defines a ``register(group)``
function that adds its click commands. They are discovered here, so adding a command never means
editing this file. Modules must keep heavy imports (torch, transformers, label_studio) inside the
command functions so that ``oma --help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from oma_analysis import OmaError, __version__
from oma_analysis import commands as _commands


class _Group(click.Group):
    """Turns OmaError into one clear line and exit code 2 instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except OmaError as exc:
            click.echo(f"oma: error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="oma")
def main() -> None:
    """oma: measure how often a language model is obviously misaligned."""


for _mod in sorted(m.name for m in pkgutil.iter_modules(_commands.__path__)):
    importlib.import_module(f"{_commands.__name__}.{_mod}").register(main)
