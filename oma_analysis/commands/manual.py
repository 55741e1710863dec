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
    from oma_analysis.rubric.manual import write_pages

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


@manual.command()
@click.option("--config", default="manual/mkdocs.yml", show_default=True, type=click.Path(exists=True))
@click.option("--site", default=None, type=click.Path(file_okay=False), help="Built site (default: manual/site).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(config: str, site: str | None, host: str, port: int) -> None:
    """Build the manual and serve it with no network (refuses a site that loads CDN assets);
    link it from the projects' instructions with `oma study create --manual-url`."""
    from oma_analysis import OmaError
    from oma_analysis.rubric.manual_site import external_assets
    from oma_analysis.rubric.manual_site import serve as do_serve

    site_dir = Path(site or Path(config).resolve().parent / "site")
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", config, "--site-dir",
           str(site_dir.resolve())]
    if subprocess.call(cmd):
        raise OmaError(f"mkdocs build of {config} failed")
    ext = external_assets(site_dir)
    if ext:
        raise OmaError(f"{site_dir}: {len(ext)} asset(s) load from the network, e.g. {ext[0][1]} in {ext[0][0]}")
    click.echo(f"manual at http://{host}:{port}/ (no network assets; Ctrl-C to stop)")
    do_serve(site_dir, host, port)
