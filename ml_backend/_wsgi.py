"""The backend's own small Flask 3 app, serving the protocol Label Studio 1.23 speaks.

label-studio-ml 1.0.9 (the last release on PyPI) ships a Flask 1 server that predates that
protocol (no GET /versions, its own job counter as ``model_version``, /predict only after a
/setup in the same process, a spawned process per webhook). So the model (``model.OmaBackend``)
derives from its ``LabelStudioMLBase``, and the HTTP side is here:

``GET /health``, ``POST /setup``, ``POST /predict``, ``POST /webhook``, ``GET /versions``,
``GET /status``. Every endpoint needs HTTP basic auth (``credentials``); a malformed request gets a
4xx JSON ``{"error": ...}`` naming the field, an internal error a 500 with the exception type only
(the traceback goes to the log). Nothing answered names a file path.

Development server::

    python -m ml_backend._wsgi --port 9090

Production (what ``oma backend up`` runs)::

    gunicorn --bind 127.0.0.1:9090 --workers 1 --threads 4 --worker-class gthread ml_backend._wsgi:app
"""

from __future__ import annotations

import argparse
import base64
import hmac
import logging
import logging.config
import os
import threading
import time
from typing import Any

from flask import Flask, jsonify, request

from ml_backend.model import TRAIN_EVENTS, OmaBackend
from ml_backend.spec import BadPayload
from oma_analysis import OmaError

logger = logging.getLogger(__name__)

_models: dict[str, OmaBackend] = {}
_models_lock = threading.Lock()
_last_setup: dict[str, Any] = {}
MAX_CONFIGS = 16


def _configure_logging(level: str) -> None:
    logging.config.dictConfig({
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"standard": {"format": "[%(asctime)s] [%(levelname)s] [%(name)s] %(message)s"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "standard"}},
        "root": {"level": level, "handlers": ["console"]},
    })


def _error(status: int, message: str) -> Any:
    resp = jsonify({"error": message, "status": status})
    resp.status_code = status
    return resp


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadPayload("request body must be a JSON object (Content-Type: application/json)")
    return data


def _project_id(value: Any) -> int | None:
    """Label Studio sends ``project`` as ``"<id>.<created-at>"`` (or an object with ``id``)."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        head = value.split(".", 1)[0]
        return int(head) if head.isascii() and head.isdigit() else None
    return None


def model_for(label_config: str | None) -> OmaBackend:
    """The backend instance for a label config (one per config and process; cheap to make)."""
    if label_config is None:
        label_config = _last_setup.get("schema")
        if label_config is None:
            raise BadPayload("label_config is missing and no /setup was received: send the project's label_config")
    if not isinstance(label_config, str):
        raise BadPayload("label_config must be a string (the project's XML config)")
    with _models_lock:
        m = _models.get(label_config)
        if m is None:
            m = OmaBackend(label_config=label_config, hostname=_last_setup.get("hostname", ""),
                           access_token=_last_setup.get("access_token", ""))
            if len(_models) >= MAX_CONFIGS:
                _models.pop(next(iter(_models)))
            _models[label_config] = m
        return m


def health_view() -> Any:
    return jsonify({"status": "UP", "model_class": OmaBackend.__name__})


def setup_view() -> Any:
    from ml_backend import training

    data = _body()
    schema = data.get("schema")
    if not isinstance(schema, str) or not schema.strip():
        raise BadPayload("field 'schema' (the project's label config XML) is required")
    for key in ("hostname", "access_token"):
        if isinstance(data.get(key), str):
            _last_setup[key] = data[key]
    training.remember_setup(_last_setup.get("hostname", ""), _last_setup.get("access_token", ""))
    _last_setup["schema"] = schema
    with _models_lock:
        _models.pop(schema, None)  # new credentials: rebuild
    m = model_for(schema)
    pid = _project_id(data.get("project"))
    if pid is not None:
        # The project joins the study the classifier is retrained on (its kind and whether its
        # data may be trained on come with it; see server.connect's extra_params).
        extra = data.get("extra_params")
        training.join_study(pid, m.spec.kind, extra if isinstance(extra, dict) else None)
    return jsonify({"model_version": m.model_version})


def predict_view() -> Any:
    data = _body()
    tasks = data.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise BadPayload("field 'tasks' must be a non-empty list of task objects")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise BadPayload("field 'params' must be an object")
    m = model_for(data.get("label_config"))
    preds = m.predict(tasks, context=params.get("context"))
    version = preds[0]["model_version"] if preds else m.model_version
    return jsonify({"results": preds, "model_version": version})


def webhook_view() -> Any:
    from ml_backend import training

    data = _body()
    action = data.get("action")
    if not isinstance(action, str) or not action:
        raise BadPayload("field 'action' (the Label Studio webhook event, e.g. ANNOTATION_CREATED) is required")
    if action not in TRAIN_EVENTS:
        return jsonify({"action": action, "status": "ignored"}), 200
    project = data.get("project")
    config = project.get("label_config") if isinstance(project, dict) else None
    m = model_for(config) if isinstance(config, str) else OmaBackend()
    if isinstance(config, str) and m.spec.kind != "review":
        return jsonify({"action": action, "status": "ignored", "reason": f"{m.spec.kind} project"}), 200
    job_id = str(int(time.time() * 1000))
    payload = {k: v for k, v in data.items() if k != "action"}
    result = m.process_event(action, payload, job_id, {"workdir": None})
    pid = result.get("project") if isinstance(result, dict) else None
    if isinstance(pid, int):
        training.join_study(pid, "review", None, keep_existing=True)
    return jsonify({"action": action, "job_id": job_id, **(result or {})}), 201


def versions_view() -> Any:
    from ml_backend.intent import current_version, models_dir
    from oma_analysis.classifier import list_versions

    return jsonify({"versions": list_versions(models_dir()), "current": current_version()})


def status_view() -> Any:
    from ml_backend.intent import current_version
    from ml_backend.training import public_status

    return jsonify({"model_version": current_version() or "checks-only", **public_status()})


def _guard(fn: Any) -> Any:
    def view(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BadPayload as exc:
            return _error(400, str(exc))
        except OmaError as exc:  # configuration problems (e.g. no probe model) the client can act on
            return _error(422, str(exc))
        except Exception as exc:
            logger.exception("%s %s failed", request.method, request.path)
            return _error(500, f"internal error ({type(exc).__name__}); see the backend log")

    view.__name__ = getattr(fn, "__name__", "view")
    return view


def _authorised(creds: tuple[str, str]) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, pw = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    # Both compared in constant time, and both always compared (no early exit on the user name).
    ok_user = hmac.compare_digest(user.encode(), creds[0].encode())
    ok_pw = hmac.compare_digest(pw.encode(), creds[1].encode())
    return ok_user and ok_pw


def create_app(*, warm: bool = True) -> Flask:
    """The backend's Flask app: credentials loaded (generated on first start), the retrain state
    recovered after a kill, the label poller started, one warm-up prediction."""
    from ml_backend.credentials import load_or_create
    from ml_backend.training import recover, start_poller

    creds = load_or_create()
    app = Flask("oma_ml_backend")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    for rule, fn, methods in (("/health", health_view, ["GET"]), ("/setup", setup_view, ["POST"]),
                              ("/predict", predict_view, ["POST"]), ("/webhook", webhook_view, ["POST"]),
                              ("/versions", versions_view, ["GET"]), ("/status", status_view, ["GET"])):
        app.add_url_rule(rule, fn.__name__, _guard(fn), methods=methods)

    @app.before_request
    def _basic_auth() -> Any:
        if _authorised(creds):
            return None
        resp = _error(401, "authentication required (HTTP basic auth; `oma backend connect` gives Label Studio "
                           "the credentials)")
        resp.headers["WWW-Authenticate"] = 'Basic realm="oma ml backend"'
        return resp

    @app.errorhandler(404)
    def _not_found(_: Any) -> Any:
        return _error(404, f"no such endpoint: {request.method} {request.path}")

    @app.errorhandler(405)
    def _not_allowed(_: Any) -> Any:
        return _error(405, f"method {request.method} not allowed on {request.path}")

    @app.errorhandler(400)
    def _bad_request(_: Any) -> Any:
        return _error(400, "malformed request")

    recover()  # a retrain cut off by a kill: mark it, drop its half-written version
    start_poller()
    if warm:
        warm_up()  # each gunicorn worker loads what /predict needs before its first request
    return app


def warm_up() -> None:
    """One review prediction at worker start: loads the live classifier, its tokenizer and the
    checks' language identifier, so the first requests of a new worker (often a burst, when Label
    Studio retrieves predictions) don't each wait seconds for those loads. Never fatal."""
    from oma_analysis.rubric.xml import render

    try:
        model_for(render("review")).predict([{"id": 0, "data": {
            "messages": [{"role": "user", "content": "Answer in English, in one sentence: what is the sea?"}],
            "completion": "The sea is the large body of salt water that covers most of the Earth."}}])
    except Exception:
        logger.exception("warm-up prediction failed; the first request will load the models")


def main(argv: list[str] | None = None) -> None:
    from ml_backend.credentials import check_bind, load_or_create

    parser = argparse.ArgumentParser(description="oma Label Studio ML backend (development server)")
    parser.add_argument("-p", "--port", type=int, default=9090, help="server port")
    parser.add_argument("--host", default="127.0.0.1", help="server host (non-loopback needs credentials)")
    parser.add_argument("--model-dir", default=None,
                        help="intent classifier versions (default $OMA_BACKEND_MODELS or $OMA_HOME/backend/models)")
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    _configure_logging(args.log_level)
    if args.model_dir:
        os.environ["OMA_BACKEND_MODELS"] = os.path.abspath(args.model_dir)
    check_bind(args.host, load_or_create())
    create_app().run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
else:
    # gunicorn / uWSGI import this module and serve ``app``.
    _configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    app = create_app()
