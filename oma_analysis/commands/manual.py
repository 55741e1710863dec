"""oma manual tables|build: the labeller manual's generated tables and the HTML site."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click


def register(group: click.Group) -> None:
    group.add_command(manual)


@click.group()
def manual() -> None:
    """The labeller manual (Markdown in manual/docs, built with MkDocs)."""


@manual.command()
@click.option("--out", default="manual/docs/reference", show_default=True, type=click.Path(file_okay=False))
def tables(out: str) -> None:
    """Write the questions, failure types and checklist tables from the rubric."""
    from ..rubric.manual import write_pages

    for p in write_pages(out):
        click.echo(str(p))


@manual.command()
@click.option("--config", default="manual/mkdocs.yml", show_default=True, type=click.Path(exists=True))
@click.option("--site", default=None, type=click.Path(file_okay=False), help="Output dir (default: manual/site).")
def build(config: str, site: str | None) -> None:
    """Build the browsable HTML manual (MkDocs, strict: broken links fail the build)."""
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", config]
    if site:
        cmd += ["--site-dir", str(Path(site).resolve())]
    sys.exit(subprocess.call(cmd))
