"""oma demo: the main job on the embedded default data (idempotent; safe to rerun)."""

from __future__ import annotations

import sys
from importlib import resources

import click


def register(group: click.Group) -> None:
    group.add_command(demo)


@click.command()
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--data", "data_file", type=click.Path(exists=True, dir_okay=False),
              help="Completion records (JSONL) to load instead of the embedded demo set.")
def demo(port: int, data_file: str | None) -> None:
    """Start Label Studio (SQLite), create the review/compare/probe projects, import the demo
    completions blinded, and print where to log in. Label Studio keeps running (`oma ls down`)."""
    from ..blinding import CodeMap
    from ..labelstudio.client import connect
    from ..labelstudio.projects import create_or_update
    from ..labelstudio.push import prepare, push, read_jsonl
    from ..labelstudio.server import load_credentials, oma_home, start

    home = oma_home()
    click.echo("starting Label Studio (the first start runs database migrations, ~1 min) ...")
    state = start(port=port)
    creds = load_credentials()
    client = connect(state.url, creds.token)
    projects = {kind: create_or_update(client, kind) for kind in ("review", "compare", "probe")}
    src = data_file or str(resources.files("oma_analysis") / "data" / "demo_completions.jsonl")
    codemap_path = home / "demo" / "codemap.json"
    codes = CodeMap.load(codemap_path) if codemap_path.exists() else CodeMap()
    tasks = prepare(read_jsonl(src), projects["review"].label_config, codes, src)
    codes.save(codemap_path)
    res = push(client, projects["review"].id, tasks, progress=True)
    click.echo(f"review project {res.project}: {res.created} tasks imported, {res.skipped} already there")
    click.echo(f"code map (model identities, kept outside Label Studio): {codemap_path}")
    click.echo("")
    click.echo(f"Label Studio is running at {state.url}")
    click.echo(f"  login:    {creds.username}")
    # Only show the password to a person at a terminal; logs (CI, files) get the file's path.
    secret = creds.password if sys.stdout.isatty() else f"see {home / 'credentials.json'}"
    click.echo(f"  password: {secret}")
    for kind, p in projects.items():
        click.echo(f"  {kind:8s} {state.url}/projects/{p.id}/data")
    click.echo("Stop it with: .venv/bin/oma ls down")
