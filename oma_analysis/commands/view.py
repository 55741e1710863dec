"""``oma view REPORT_DIR``: serve a report folder (report.html, browser.html) on localhost."""

from __future__ import annotations

from pathlib import Path

import click


def register(group: click.Group) -> None:
    group.add_command(view)


@click.command()
@click.argument("report_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--port", type=int, default=8765, show_default=True, help="0 picks a free port.")
def view(report_dir: str, port: int) -> None:
    """Serve REPORT_DIR (written by `oma report`) at http://127.0.0.1:PORT/ until interrupted: the
    results browser goes from each rate to its items and from an item to every labeller's answers.
    The pages are static and self-contained; nothing leaves this machine."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from oma_analysis import OmaError

    root = Path(report_dir)
    if not (root / "browser.html").exists():
        raise OmaError(f"{root}: no browser.html; build it with `oma report INPUT --out {root}`")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        click.echo(f"http://127.0.0.1:{server.server_address[1]}/browser.html", err=False)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
