"""Django settings for Label Studio in team mode (``DJANGO_SETTINGS_MODULE=oma_ls_settings`` and this
folder on ``PYTHONPATH``, set by ``oma ls up --host``). Runs in Label Studio's environment, not oma's.

Label Studio 1.23 reads no environment variable for ``SECURE_PROXY_SSL_HEADER``; without it Django
thinks every request behind the TLS proxy is plain HTTP (``request.is_secure()`` false: http://
absolute URLs, CSRF's strict HTTPS Referer check skipped). Label Studio listens on 127.0.0.1 only and
nginx overwrites ``X-Forwarded-Proto``, so no client can forge the header.

Label Studio's settings module reads ``django.conf.settings`` while it is still being imported (its
Sentry set-up), which re-enters *this* module; a plain ``from ... import *`` would hand Django a
module without those names yet. Running its source in this module's namespace keeps it as it expects.
"""

from pathlib import Path

import label_studio.core.settings as _ls_settings_pkg

_source = Path(_ls_settings_pkg.__file__).with_name("label_studio.py")
exec(compile(_source.read_text(), str(_source), "exec"))  # noqa: S102 - Label Studio's own settings file

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
