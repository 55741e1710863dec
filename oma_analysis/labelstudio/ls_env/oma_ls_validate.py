"""Label Studio's own ``validate_label_config``, run in Label Studio's environment (oma's has no
Django): reads a JSON list of label configs on stdin, writes a JSON list with ``null`` (valid) or the
validator's message for each. Called by ``oma_analysis.labelstudio.config_check``."""

import contextlib
import io
import json
import logging
import os
import secrets
import sys
import tempfile
import warnings


def main() -> None:
    # Label Studio's settings want a data folder: a throw-away one, removed afterwards.
    with tempfile.TemporaryDirectory(prefix="oma-lscheck-") as data:
        os.environ.setdefault("LABEL_STUDIO_BASE_DATA_DIR", data)
        _validate()


def _validate() -> None:
    configs = json.load(sys.stdin)
    import label_studio

    sys.path.insert(0, os.path.dirname(label_studio.__file__))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.label_studio")
    os.environ.setdefault("LATEST_VERSION_CHECK", "false")
    os.environ.setdefault("COLLECT_ANALYTICS", "false")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))  # throw-away settings only
    # No error reports to Heartex's Sentry (its default DSN): nothing leaves this machine.
    os.environ["SENTRY_DSN"] = os.environ["FRONTEND_SENTRY_DSN"] = ""
    # Label Studio's settings print banners and warnings while loading: only the JSON goes out.
    with (contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()),
          warnings.catch_warnings()):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        import django

        django.setup()
        from label_studio.core.label_config import validate_label_config

        out = []
        for xml in configs:
            try:
                validate_label_config(xml)
                out.append(None)
            except Exception as exc:  # its ValidationError carries the message in .detail
                out.append(str(getattr(exc, "detail", exc)))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
