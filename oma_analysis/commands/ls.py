"""oma ls up|down|status: a local Label Studio server."""

from __future__ import annotations

import json

import click


def register(group: click.Group) -> None:
    group.add_command(ls)


@click.group()
def ls() -> None:
    """Run a local Label Studio (SQLite by default, PostgreSQL with --database-url)."""


@ls.command()
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--data-dir", type=click.Path(file_okay=False), help="Default: $OMA_HOME/label-studio.")
@click.option("--database-url", envvar="OMA_DATABASE_URL",
              help="postgresql://user:password@host:port/db (default: SQLite in the data dir).")
@click.option("--timeout", default=240.0, show_default=True, help="Seconds to wait for the server.")
@click.option("--host", help="Team mode: serve labellers over HTTPS on this address (nginx in front; "
              "Label Studio itself stays on 127.0.0.1).")
@click.option("--https-port", default=8443, show_default=True, type=int, help="Team mode: the HTTPS port.")
@click.option("--cert", type=click.Path(dir_okay=False, exists=True),
              help="Team mode: PEM certificate (default: a self-signed one in $OMA_HOME/proxy/tls).")
@click.option("--key", type=click.Path(dir_okay=False, exists=True), help="Team mode: PEM key for --cert.")
@click.option("--backend-addr", help="Team mode: the ML backend's own address (e.g. 127.0.0.3, with `oma backend "
              "up --host 127.0.0.3`), the one address exempted from Label Studio's SSRF guard.")
def up(port: int, data_dir: str | None, database_url: str | None, timeout: float, host: str | None,
       https_port: int, cert: str | None, key: str | None, backend_addr: str | None) -> None:
    """Start Label Studio in the background (or find the running one) and print URL and login."""
    from oma_analysis import OmaError
    from oma_analysis.labelstudio.server import load_credentials, start
    from oma_analysis.lifecycle import oma_home

    if backend_addr and not host:
        raise OmaError("--backend-addr is for team mode: give --host too")

    state = start(port=port, data_dir=data_dir, database_url=database_url, timeout=timeout, host=host,
                  https_port=https_port, cert=cert, key=key, backend_addr=backend_addr)
    creds = load_credentials()
    click.echo(f"Label Studio: {state.url}  (database: {state.database}, log: {state.log})")
    if state.public_url:
        click.echo(f"labellers: {state.public_url}  (TLS by nginx, config {oma_home() / 'proxy' / 'nginx.conf'})")
    click.echo(f"login: {creds.username}  password: in {oma_home() / 'credentials.json'} (mode 0600)")


@ls.command()
def down() -> None:
    """Stop the Label Studio started by `oma ls up`."""
    from oma_analysis.labelstudio.server import stop

    click.echo("stopped" if stop() else "not running")


@ls.command()
@click.option("--json", "as_json", is_flag=True)
def status(as_json: bool) -> None:
    """Say whether the server is up."""
    from oma_analysis.labelstudio.server import ServerState
    from oma_analysis.lifecycle.procs import alive

    st = ServerState.load()
    running = bool(st and alive(st.pid))
    if as_json:
        click.echo(json.dumps({"running": running, "url": st.url if st else None,
                               "public_url": st.public_url if st else None}))
    else:
        click.echo(f"running at {st.url}" if running and st else "not running")


@ls.command()
@click.option("--out", type=click.Path(dir_okay=False), help="Default: $OMA_HOME/backups/labelstudio-<UTC>.sqlite3 "
              "(or .pgdump).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="SQLite: Label Studio's data dir "
              "(default: the running server's, else $OMA_HOME/label-studio).")
@click.option("--database-url", envvar="OMA_DATABASE_URL", help="PostgreSQL: the URL with password (for pg_dump).")
def backup(out: str | None, data_dir: str | None, database_url: str | None) -> None:
    """A consistent online backup of Label Studio's database (SQLite backup API, or pg_dump -Fc)."""
    from pathlib import Path

    from oma_analysis.labelstudio.backup import backup as do_backup
    from oma_analysis.lifecycle import oma_home

    path = do_backup(oma_home(), out=Path(out) if out else None, data_dir=Path(data_dir) if data_dir else None,
                     database_url=database_url)
    click.echo(f"backup written to {path} ({path.stat().st_size} bytes, mode 0600)")


@ls.command("restore-backup")
@click.argument("backup_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False), help="SQLite: Label Studio's data dir "
              "(default: $OMA_HOME/label-studio).")
@click.option("--database-url", envvar="OMA_DATABASE_URL",
              help="PostgreSQL: restore a .pgdump into this (empty) database.")
def restore_backup(backup_file: str, data_dir: str | None, database_url: str | None) -> None:
    """Put a backup from `oma ls backup` back in place (Label Studio stopped for SQLite)."""
    from pathlib import Path

    from oma_analysis.labelstudio.backup import pg_restore, restore_sqlite
    from oma_analysis.lifecycle import oma_home

    if database_url:
        pg_restore(database_url, Path(backup_file))
        click.echo(f"restored {backup_file} into the database")
        return
    target = restore_sqlite(Path(backup_file), Path(data_dir) if data_dir else oma_home() / "label-studio", oma_home())
    click.echo(f"restored {backup_file} to {target}; start Label Studio with `oma ls up`")
