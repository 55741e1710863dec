"""The Flask app: label-studio-ml 1.0.9's server with oma's request handling on top.

label-studio-ml 1.0.9 answers a malformed request with a 500 and a Python traceback, returns its
own job counter as ``model_version`` on /setup, serves /predict only after a /setup in the same
process (a problem with several gunicorn workers), and runs every webhook in a freshly spawned
process (importing torch for each annotation). So ``install`` keeps its app, ``/health`` and
``/metrics`` and replaces the views of ``/setup``, ``/predict`` and ``/webhook`` (same URLs and
payloads as Label Studio sends), adds ``GET /versions`` (Label Studio 1.23 asks with GET) and
``GET /status``, optional HTTP basic auth, and JSON errors: 4xx with a message for bad
requests, 500 with the exception type only (the traceback goes to the log).
"""

from __future__ import annotations

import base64
import hmac
import logging
import os
import threading
import time
from typing import Any

from flask import Flask, jsonify, request

from oma_analysis import OmaError

from .model import TRAIN_EVENTS, OmaBackend
from .spec import BadPayload

logger = logging.getLogger(__name__)

_models: dict[str, OmaBackend] = {}
_models_lock = threading.Lock()
_last_setup: dict[str, Any] = {}
MAX_CONFIGS = 16


def auth_pair() -> tuple[str, str] | None:
    user, pw = os.environ.get("OMA_BACKEND_USER"), os.environ.get("OMA_BACKEND_PASSWORD")
    return (user, pw) if user and pw else None


def _error(status: int, message: str) -> Any:
    resp = jsonify({"error": message, "status": status})
    resp.status_code = status
    return resp


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadPayload("request body must be a JSON object (Content-Type: application/json)")
    return data


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


def setup_view() -> Any:
    data = _body()
    schema = data.get("schema")
    if not isinstance(schema, str) or not schema.strip():
        raise BadPayload("field 'schema' (the project's label config XML) is required")
    for key in ("hostname", "access_token"):
        if isinstance(data.get(key), str):
            _last_setup[key] = data[key]
    _last_setup["schema"] = schema
    with _models_lock:
        _models.pop(schema, None)  # new credentials: rebuild
    m = model_for(schema)
    _keep_manager_in_step(m)
    return jsonify({"model_version": m.model_version})


def _keep_manager_in_step(m: OmaBackend) -> None:
    """label-studio-ml's /is_training and /train read its manager's current model."""
    from label_studio_ml.api import _manager
    from label_studio_ml.model import ModelWrapper

    _manager._current_model = ModelWrapper(model=m, model_version=m.model_version)


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
    return jsonify({"action": action, "job_id": job_id, **(result or {})}), 201


def versions_view() -> Any:
    from oma_analysis.classifier import list_versions

    from .intent import current_version, models_dir

    return jsonify({"versions": list_versions(models_dir()), "current": current_version()})


def status_view() -> Any:
    from .intent import current_version, models_dir
    from .training import retrain_every, status

    return jsonify({"model_version": current_version() or "checks-only", "models_dir": str(models_dir()),
                    "retrain_every": retrain_every(), "retrain": status()})


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


def install(app: Flask) -> Flask:
    """Put oma's views, auth and error handling on label-studio-ml's Flask app (idempotent)."""
    if getattr(app, "_oma_installed", False):
        return app
    app._oma_installed = True  # type: ignore[attr-defined]
    app.view_functions["_setup"] = _guard(setup_view)
    app.view_functions["_predict"] = _guard(predict_view)
    app.view_functions["webhook"] = _guard(webhook_view)
    app.add_url_rule("/versions", "oma_versions", _guard(versions_view), methods=["GET"])
    app.add_url_rule("/status", "oma_status", _guard(status_view), methods=["GET"])

    @app.before_request
    def _basic_auth() -> Any:
        pair = auth_pair()
        if pair is None:
            return None
        header = request.headers.get("Authorization", "")
        ok = False
        if header.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(header[6:]).decode("utf-8").partition(":")
                ok = hmac.compare_digest(user, pair[0]) and hmac.compare_digest(pw, pair[1])
            except (ValueError, UnicodeDecodeError):
                ok = False
        if not ok:
            resp = _error(401, "authentication required (HTTP basic auth; see OMA_BACKEND_USER)")
            resp.headers["WWW-Authenticate"] = 'Basic realm="oma ml backend"'
            return resp
        return None

    @app.errorhandler(404)
    def _not_found(_: Any) -> Any:
        return _error(404, f"no such endpoint: {request.method} {request.path}")

    @app.errorhandler(405)
    def _not_allowed(_: Any) -> Any:
        return _error(405, f"method {request.method} not allowed on {request.path}")

    @app.errorhandler(400)
    def _bad_request(_: Any) -> Any:
        return _error(400, "malformed request")

    return app


def create_app(model_dir: str | None = None) -> Flask:
    """label-studio-ml's app for ``OmaBackend``, with oma's views installed."""
    from label_studio_ml.api import init_app

    from .intent import models_dir
    from .training import recover

    jobs = model_dir or str(models_dir() / ".jobs")  # label-studio-ml's own job dir (unused by oma)
    os.makedirs(jobs, exist_ok=True)
    app = install(init_app(model_class=OmaBackend, model_dir=jobs))
    recover()  # a retrain cut off by a kill: mark it, drop its half-written version
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
