"""Team mode's TLS front: nginx (Debian's ``nginx`` package) on the public address, Label Studio on
loopback behind it.

oma writes the whole nginx configuration from :data:`NGINX_TEMPLATE` (docs/DEPLOYMENT.md shows it),
generates a self-signed certificate unless one is given, checks the file with ``nginx -t`` and runs
nginx in the foreground of its own process group, so ``oma ls down`` stops it like Label Studio.

Why nginx and not a Python TLS proxy: a maintained, audited TLS stack; Debian ships it.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from oma_analysis import OmaError
from oma_analysis.lifecycle.procs import alive, terminate_group

DEFAULT_HTTPS_PORT = 8443

# Labellers reach Label Studio only through this proxy (its own port listens on 127.0.0.1), so what
# the proxy refuses, a labeller cannot do. Label Studio Community lets every user register ML backends,
# webhooks and cloud storages; the researcher does that with oma over loopback, never through here.
# So labellers may only *use* ML backends (list them, interactive pre-annotation by id), never create
# or re-point one, and never touch webhooks or storages; Label Studio's SSRF guard (see .ssrf) is the
# second wall behind this one.
NGINX_TEMPLATE = """\
# Written by `oma ls up --host {addr}`; regenerated on every start, edits are overwritten.
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {run}/access.log;
    client_body_temp_path {run}/tmp/body;
    proxy_temp_path {run}/tmp/proxy;
    fastcgi_temp_path {run}/tmp/fastcgi;
    uwsgi_temp_path {run}/tmp/uwsgi;
    scgi_temp_path {run}/tmp/scgi;
    server_tokens off;
    client_max_body_size 200m;

    upstream label_studio {{ server 127.0.0.1:{ls_port}; }}

    server {{
        listen {listen} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:oma_tls:1m;
        add_header Strict-Transport-Security "max-age=31536000" always;

        proxy_set_header Host $host:$server_port;
        # Overwrite, never append: Label Studio trusts this header (SECURE_PROXY_SSL_HEADER).
        proxy_set_header X-Forwarded-Proto https;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_read_timeout 300s;

        location ~ ^/api/ml/[0-9]+/interactive-annotating/?$ {{ proxy_pass http://label_studio; }}
        location ^~ /api/ml {{
            limit_except GET {{ deny all; }}
            proxy_pass http://label_studio;
        }}
        location ^~ /api/webhooks {{ return 403; }}
        location ^~ /api/storages {{ return 403; }}
        location / {{ proxy_pass http://label_studio; }}
    }}
}}
"""


def nginx_exe() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                           if os.access(p, os.X_OK)), None)
    if not found:
        raise OmaError("team mode needs nginx: `make system` or `apt-get install nginx`")
    return found


def _listen(addr: str, port: int) -> str:
    ip = _ip(addr)
    return f"[{addr}]:{port}" if ip is not None and ip.version == 6 else f"{addr}:{port}"


def _ip(addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(addr)
    except ValueError:
        return None


def public_origin(addr: str, port: int) -> str:
    """``https://ADDR:PORT`` as browsers send it in ``Origin`` (port omitted when 443)."""
    host = f"[{addr}]" if (ip := _ip(addr)) is not None and ip.version == 6 else addr
    return f"https://{host}" + ("" if port == 443 else f":{port}")


def self_signed(directory: Path, addr: str, *, days: int = 825) -> tuple[Path, Path]:
    """A self-signed certificate for ``addr`` (IP or DNS name in subjectAltName) and its key (0600),
    made once and reused, so labellers accept (or pin) it only once."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n) for n in sans.get_values_for_type(x509.IPAddress)] + sans.get_values_for_type(x509.DNSName)
        if str(_ip(addr) or addr) in names and cert.not_valid_after_utc > datetime.now(UTC) + timedelta(days=1):
            return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, addr)])
    ip = _ip(addr)
    san = x509.IPAddress(ip) if ip is not None else x509.DNSName(addr)
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def render(addr: str, https_port: int, ls_port: int, cert: Path, key: Path, run: Path) -> str:
    return NGINX_TEMPLATE.format(addr=addr, listen=_listen(addr, https_port), ls_port=ls_port,
                                 cert=cert, key=key, run=run)


def start(run: Path, addr: str, https_port: int, ls_port: int, *, cert: Path | None = None,
          key: Path | None = None, timeout: float = 30.0) -> int:
    """Write the config under ``run``, test it, start nginx; return its pid once the TLS port answers."""
    if (cert is None) != (key is None):
        raise OmaError("--cert and --key go together")
    run = run.resolve()
    (run / "tmp").mkdir(parents=True, exist_ok=True)
    if cert is None or key is None:
        cert, key = self_signed(run / "tls", addr)
    for p in (cert, key):
        if not Path(p).is_file():
            raise OmaError(f"{p}: no such certificate/key file")
    conf = run / "nginx.conf"
    conf.write_text(render(addr, https_port, ls_port, Path(cert).resolve(), Path(key).resolve(), run))
    exe = nginx_exe()
    # -e: the error log from the first moment (nginx's compiled-in /var/log/nginx is root's).
    base = [exe, "-p", str(run), "-c", str(conf), "-e", str(run / "error.log")]
    test = subprocess.run([*base, "-t", "-q"], capture_output=True, text=True)
    if test.returncode != 0:
        raise OmaError(f"nginx refused {conf}: {test.stderr.strip()[-800:]}")
    log = run / "nginx.out"
    with open(log, "ab") as fh:
        proc = subprocess.Popen([*base, "-g", "daemon off;"], stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = (run / "error.log").read_text()[-800:] if (run / "error.log").exists() else ""
            raise OmaError(f"nginx exited with code {proc.returncode}: {err or log.read_text()[-800:]}")
        try:
            with socket.create_connection((addr, https_port), timeout=2) as s:
                ctx = ssl.create_default_context(cafile=str(cert))
                ctx.check_hostname = False  # a given cert may name a DNS host we cannot resolve here
                with ctx.wrap_socket(s, server_hostname=addr if _ip(addr) is None else None):
                    return proc.pid
        except ssl.SSLError:
            return proc.pid  # TLS answered (e.g. a CA-signed cert not in this trust store)
        except OSError:
            time.sleep(0.2)
    stop(proc.pid)
    raise OmaError(f"nginx did not answer on {addr}:{https_port} in {timeout:.0f} s; see {run / 'error.log'}")


def stop(pid: int | None) -> bool:
    return bool(pid) and alive(pid) and terminate_group(pid)
