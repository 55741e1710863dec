"""Entry point, as in the label-studio-ml-backend examples.

Development server::

    python -m ml_backend._wsgi --port 9090 --model-dir ./models --basic-auth-user me --basic-auth-pass secret

Production (what ``oma backend up`` runs)::

    gunicorn --bind 127.0.0.1:9090 --workers 1 --threads 4 ml_backend._wsgi:app
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import os


def _configure_logging(level: str) -> None:
    logging.config.dictConfig({
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"standard": {"format": "[%(asctime)s] [%(levelname)s] [%(name)s] %(message)s"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "standard"}},
        "root": {"level": level, "handlers": ["console"]},
    })


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="oma Label Studio ML backend")
    parser.add_argument("-p", "--port", type=int, default=9090, help="server port")
    parser.add_argument("--host", default="127.0.0.1", help="server host (0.0.0.0 to listen on all interfaces)")
    parser.add_argument("--model-dir", default=None,
                        help="intent classifier versions (default $OMA_BACKEND_MODELS or $OMA_HOME/backend/models)")
    parser.add_argument("--basic-auth-user", default=os.environ.get("OMA_BACKEND_USER"))
    parser.add_argument("--basic-auth-pass", default=os.environ.get("OMA_BACKEND_PASSWORD"))
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("-d", "--debug", action="store_true", help="Flask debug mode")
    args = parser.parse_args(argv)
    _configure_logging(args.log_level)
    if args.model_dir:
        os.environ["OMA_BACKEND_MODELS"] = os.path.abspath(args.model_dir)
    if args.basic_auth_user and args.basic_auth_pass:
        os.environ["OMA_BACKEND_USER"], os.environ["OMA_BACKEND_PASSWORD"] = args.basic_auth_user, args.basic_auth_pass
    from ml_backend.app import create_app

    create_app().run(host=args.host, port=args.port, debug=args.debug, threaded=True)


if __name__ == "__main__":
    main()
else:
    # gunicorn / uWSGI import this module and serve ``app``.
    _configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    from ml_backend.app import create_app

    app = create_app()
