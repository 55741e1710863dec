"""oma backend up|down|status|connect: the Label Studio ML backend (ml_backend/) under gunicorn."""

from __future__ import annotations

import json

import click


def register(group: click.Group) -> None:
    group.add_command(backend)


@click.group()
def backend() -> None:
    """Run the ML backend (checks, intent classifier, interactive probing) and connect it to Label Studio.

    Credentials are always required: generated on first start into $OMA_HOME/backend/credentials.json
    (mode 0600) unless OMA_BACKEND_USER / OMA_BACKEND_PASSWORD are set; `connect` hands them to Label
    Studio (which never shows the password to members). Environment: OMA_BACKEND_MODELS (classifier
    versions), OMA_RETRAIN_EVERY (new labels per retrain), OMA_POLL_S (seconds between polls of Label
    Studio for new labels), OMA_PROBE_MODEL (hf:PATH or openai:BASE_URL#MODEL), OMA_QUANTIZE.
    """


@backend.command()
@click.option("--port", default=9090, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--workers", default=1, show_default=True, type=int, help="gunicorn worker processes.")
@click.option("--threads", default=4, show_default=True, type=int, help="Threads per worker.")
@click.option("--models", type=click.Path(file_okay=False), help="Default: $OMA_HOME/backend/models.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for /health.")
def up(port: int, host: str, workers: int, threads: int, models: str | None, timeout: float) -> None:
    """Start the backend in the background (or find the running one) and print its URL."""
    import os

    from oma_analysis.lifecycle.backend import start

    env = {"OMA_BACKEND_MODELS": os.path.abspath(models)} if models else None
    st = start(port=port, host=host, workers=workers, threads=threads, env=env, timeout=timeout)
    click.echo(f"ML backend: {st.url}  (workers: {st.workers}, models: {st.models}, log: {st.log})")


@backend.command()
def down() -> None:
    """Stop the backend started by `oma backend up`."""
    from oma_analysis.lifecycle.backend import stop

    click.echo("stopped" if stop() else "not running")


@backend.command()
@click.option("--json", "as_json", is_flag=True)
def status(as_json: bool) -> None:
    """Say whether the backend is up, and its model version."""
    import requests

    from oma_analysis.lifecycle.backend import BackendState, _auth
    from oma_analysis.lifecycle.procs import alive

    st = BackendState.load()
    info: dict = {"running": bool(st and alive(st.pid)), "url": st.url if st else None}
    if info["running"] and st:
        try:
            info.update(requests.get(st.url + "/status", auth=_auth(), timeout=5).json())
        except (requests.RequestException, ValueError):
            info["running"] = False
    click.echo(json.dumps(info) if as_json else
               (f"running at {info['url']} (model {info.get('model_version')})" if info["running"] else "not running"))


@backend.command()
@click.option("--project", required=True, help="Label Studio project id or exact title.")
@click.option("--url", default=None, help="Backend URL as Label Studio should reach it (default: the running one).")
@click.option("--title", default="oma backend", show_default=True)
@click.option("--no-training", "no_training", default=None, metavar="REASON",
              help="This project's data must never be trained on (e.g. its licence forbids it): why.")
def connect(project: str, url: str | None, title: str, no_training: str | None) -> None:
    """Register the backend in a Label Studio project (interactive, with the backend's credentials)."""
    from oma_analysis import OmaError
    from oma_analysis.labelstudio.client import connect as ls_connect
    from oma_analysis.labelstudio.projects import find_project
    from oma_analysis.lifecycle.backend import BackendState
    from oma_analysis.lifecycle.backend import connect as ml_connect

    if url is None:
        st = BackendState.load()
        if st is None:
            raise OmaError("--url: no backend started here; run `oma backend up` or give --url")
        url = st.url
    client = ls_connect()
    proj = find_project(client, project)
    ml = ml_connect(client, proj.id, url, title=title, no_training=no_training)
    ml = client.ml.get(id=ml.id)  # re-read: Label Studio has run /setup by now
    click.echo(f"connected ML backend {ml.id} at {url} to project {proj.id} "
               f"(state {ml.readable_state or ml.state}, model version {ml.model_version or '-'})")
    if ml.error_message:
        raise OmaError(f"Label Studio reports the backend's error: {ml.error_message}")
