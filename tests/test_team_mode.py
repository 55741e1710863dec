"""Team mode: `oma ls up --host ADDR` puts nginx (TLS) on ADDR and keeps Label Studio on 127.0.0.1.

Real parts only: Debian's nginx, Label Studio 1.23 on SQLite, the oma ML backend (`oma backend up`).
ADDR is the loopback alias 127.0.0.2 (Linux routes all of 127.0.0.0/8 to lo): a second address on
this machine, so "Label Studio's port refuses connections from the alias" is a real check.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from machine import scaled

from tests.conftest import free_port

OMA = str(Path(sys.executable).with_name("oma"))
ALIAS = "127.0.0.2"
BACKEND_ADDR = "127.0.0.3"  # the ML backend's dedicated address, the one exemption from the SSRF guard


def _oma(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OMA, *args], env=env, capture_output=True, text=True, timeout=timeout)


@dataclass
class Team:
    home: Path
    env: dict[str, str] = field(repr=False)
    ls_port: int
    https_port: int
    token: str = field(repr=False)
    up_output: str

    @property
    def public(self) -> str:
        return f"https://{ALIAS}:{self.https_port}"

    @property
    def internal(self) -> str:
        return f"http://127.0.0.1:{self.ls_port}"

    @property
    def cert(self) -> str:
        return str(self.home / "proxy" / "tls" / "cert.pem")

    def browser(self) -> requests.Session:
        """A labeller's browser: trusts only our self-signed certificate. trust_env off, or the CI's
        REQUESTS_CA_BUNDLE would silently replace ``verify``."""
        s = requests.Session()
        s.trust_env = False
        s.verify = self.cert
        return s


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    home = tmp_path_factory.mktemp("oma-home-team")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMA_LS_", "OMA_DATABASE_URL", "OMA_BACKEND"))}
    env["OMA_HOME"] = str(home)
    ls_port, https_port = free_port(), free_port()
    wait = scaled(400)
    res = _oma(env, "ls", "up", "--port", str(ls_port), "--host", ALIAS, "--https-port", str(https_port),
               "--backend-addr", BACKEND_ADDR, "--timeout", str(int(wait)), timeout=wait + 50)
    try:
        assert res.returncode == 0, res.stdout + res.stderr
        from oma_analysis.labelstudio.server import load_credentials

        with pytest.MonkeyPatch.context() as mp:
            for k in ("OMA_LS_USERNAME", "OMA_LS_PASSWORD", "OMA_LS_TOKEN"):
                mp.delenv(k, raising=False)
            token = load_credentials(home).token
        yield Team(home=home, env=env, ls_port=ls_port, https_port=https_port, token=token, up_output=res.stdout)
    finally:
        state = (home / "ls.json").read_text() if (home / "ls.json").exists() else "{}"
        down = _oma(env, "ls", "down", timeout=60)
        assert down.returncode == 0, down.stdout + down.stderr
        import json

        pids = [p for p in (json.loads(state).get(k) for k in ("pid", "proxy_pid")) if p]
        from oma_analysis.lifecycle.procs import alive

        assert not any(alive(p) for p in pids), "oma ls down left Label Studio or nginx running"


def _signup(team: Team, email: str, password: str) -> requests.Session:
    """The invite flow as a labeller's browser runs it, entirely through the proxy over HTTPS."""
    from oma_analysis.labelstudio.client import connect

    invite = connect(team.internal, team.token).organizations.invites.get_invite_link().invite_url
    s = team.browser()
    page = s.get(team.public + invite, timeout=60)
    assert page.status_code == 200
    m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert m, "no CSRF token on the sign-up page"
    r = s.post(team.public + invite, data={"csrfmiddlewaretoken": m.group(1), "email": email, "password": password},
               headers={"Referer": team.public + invite}, allow_redirects=False, timeout=60)
    assert r.status_code == 302, f"sign-up refused (HTTP {r.status_code}): {r.text[:300]}"
    return s


def test_config_is_the_documented_template(team: Team) -> None:
    from oma_analysis.labelstudio import proxy

    conf = (team.home / "proxy" / "nginx.conf").read_text()
    assert f"listen {ALIAS}:{team.https_port} ssl;" in conf
    assert f"server 127.0.0.1:{team.ls_port};" in conf
    assert "X-Forwarded-Proto https" in conf
    assert team.public in team.up_output
    # The key is the operator's secret: 0600.
    assert (Path(team.cert).with_name("key.pem").stat().st_mode & 0o777) == 0o600
    doc = (Path(__file__).resolve().parents[1] / "docs" / "DEPLOYMENT.md").read_text()
    # DEPLOYMENT.md shows the exact config oma writes (rendered for its example host).
    example = proxy.render("192.0.2.10", 8443, 8080, Path("/srv/oma/state/proxy/tls/cert.pem"),
                           Path("/srv/oma/state/proxy/tls/key.pem"), Path("/srv/oma/state/proxy"))
    assert example.strip() in doc


def test_labeller_logs_in_over_https_with_secure_httponly_cookie(team: Team) -> None:
    s = _signup(team, "lab-tls@example.org", "tls-pass-12345")
    cookies = {c.name: c for c in s.cookies}
    assert "sessionid" in cookies, sorted(cookies)
    session = cookies["sessionid"]
    assert session.secure, "session cookie lacks Secure"
    assert session.has_nonstandard_attr("HttpOnly"), "session cookie lacks HttpOnly"
    assert cookies["csrftoken"].secure
    me = s.get(team.public + "/api/current-user/whoami", timeout=60)
    assert me.status_code == 200 and me.json()["email"] == "lab-tls@example.org"
    # A fresh browser logs in through the login form too (the password crosses only TLS).
    b = team.browser()
    page = b.get(team.public + "/user/login/", timeout=60)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    r = b.post(team.public + "/user/login/", data={"csrfmiddlewaretoken": token, "email": "lab-tls@example.org",
               "password": "tls-pass-12345"}, headers={"Referer": team.public + "/user/login/"},
               allow_redirects=False, timeout=60)
    assert r.status_code == 302 and "sessionid" in b.cookies
    assert b.get(team.public + "/api/current-user/whoami", timeout=60).json()["email"] == "lab-tls@example.org"


def test_label_studio_port_refuses_the_alias(team: Team) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ALIAS, team.ls_port), timeout=10).close()
    socket.create_connection(("127.0.0.1", team.ls_port), timeout=10).close()  # loopback: open
    # Plain HTTP on the TLS port gets nginx's 400, never Label Studio's login page.
    plain = requests.get(f"http://{ALIAS}:{team.https_port}/user/login/", timeout=30)
    assert plain.status_code == 400 and "csrfmiddlewaretoken" not in plain.text


def test_ssrf_guard_exempts_only_the_backend_address() -> None:
    """Label Studio's default banned networks, minus exactly BACKEND_ADDR (checked address by address
    around the hole, against the list parsed from Label Studio's source)."""
    import ipaddress

    from oma_analysis.labelstudio.ssrf import banned_except, default_banned_subnets

    defaults = [ipaddress.ip_network(n) for n in default_banned_subnets()]
    assert ipaddress.ip_network("127.0.0.0/8") in defaults and ipaddress.ip_network("10.0.0.0/8") in defaults
    banned = [ipaddress.ip_network(n) for n in banned_except(BACKEND_ADDR)]
    probes = ["127.0.0.1", "127.0.0.2", "127.0.0.4", "127.255.255.254", "10.1.2.3", "192.168.1.1", "::1",
              "169.254.169.254", BACKEND_ADDR, "8.8.8.8"]
    for p in probes:
        ip = ipaddress.ip_address(p)
        in_default = any(ip in n for n in defaults)
        assert any(ip in n for n in banned) == (in_default and p != BACKEND_ADDR), p
    total = sum(n.num_addresses for n in defaults if n.version == 4)
    assert sum(n.num_addresses for n in banned if n.version == 4) == total - 1


def test_labeller_cannot_point_label_studio_at_loopback(team: Team) -> None:
    """Label Studio's SSRF guard stays on (webhooks to loopback refused by Label Studio itself, even
    for the admin); ML backend and webhook management is refused by the proxy for labellers."""
    s = _signup(team, "lab-ssrf@example.org", "ssrf-pass-12345")
    headers = {"X-CSRFToken": s.cookies.get("csrftoken", ""), "Referer": team.public + "/"}
    ml = s.post(team.public + "/api/ml/", json={"url": f"http://127.0.0.1:{team.ls_port}", "project": 1},
                headers=headers, timeout=30)
    assert ml.status_code == 403
    hook = s.post(team.public + "/api/webhooks/", json={"url": "http://127.0.0.1:9/x"}, headers=headers, timeout=30)
    assert hook.status_code == 403
    admin = requests.post(team.internal + "/api/webhooks/", json={"url": "http://127.0.0.1:9/x"},
                          headers={"Authorization": f"Token {team.token}"}, timeout=30)
    assert admin.status_code in (400, 403) and "reserved network" in admin.text, admin.text[:300]


def test_backend_reachable_and_labelling_works_through_proxy(team: Team) -> None:
    """The real oma backend on 127.0.0.1 is reached by Label Studio in team mode, and a labeller
    submits an annotation through the proxy."""
    from oma_analysis.labelstudio.client import connect

    admin = connect(team.internal, team.token)
    proj = admin.projects.create(title="team mode", label_config=(
        '<View><Text name="t" value="$text"/><Choices name="c" toName="t">'
        '<Choice value="a"/><Choice value="b"/></Choices></View>'))
    admin.projects.import_tasks(id=proj.id, request=[{"text": "hello"}])
    backend_port = free_port()
    wait = scaled(300)
    up = _oma(team.env, "backend", "up", "--host", BACKEND_ADDR, "--port", str(backend_port),
              "--timeout", str(int(wait)),
              timeout=wait + 60)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        con = _oma({**team.env, "OMA_LS_URL": team.internal, "OMA_LS_TOKEN": team.token},
                   "backend", "connect", "--project", str(proj.id), timeout=scaled(180))
        assert con.returncode == 0, con.stdout + con.stderr
        ml = [m for m in admin.ml.list(project=proj.id)]
        assert len(ml) == 1 and not ml[0].error_message
        assert (ml[0].readable_state or ml[0].state) in ("Connected", "CO"), (ml[0].readable_state, ml[0].state)
    finally:
        _oma(team.env, "backend", "down", timeout=60)

    s = _signup(team, "lab-work@example.org", "work-pass-12345")
    task = s.get(team.public + f"/api/projects/{proj.id}/next", timeout=60)
    assert task.status_code == 200, task.text[:300]
    ann = s.post(team.public + f"/api/tasks/{task.json()['id']}/annotations/",
                 json={"result": [{"from_name": "c", "to_name": "t", "type": "choices", "value": {"choices": ["a"]}}]},
                 headers={"X-CSRFToken": s.cookies.get("csrftoken", ""), "Referer": team.public + "/"}, timeout=60)
    assert ann.status_code == 201, ann.text[:300]
    stored = admin.annotations.get(id=ann.json()["id"])
    assert stored.completed_by == s.get(team.public + "/api/current-user/whoami", timeout=30).json()["id"]


def test_team_mode_refuses_unsafe_addresses(tmp_path: Path) -> None:
    from oma_analysis import OmaError
    from oma_analysis.labelstudio import server
    from oma_analysis.labelstudio.ssrf import guard_env

    for bad in ("0.0.0.0", "::", "[::]"):
        with pytest.raises(OmaError, match="labellers type"):
            server.start(host=bad, home=tmp_path)
    assert not (tmp_path / "ls.json").exists()
    with pytest.raises(OmaError, match="dedicated address"):
        guard_env("127.0.0.1")  # Label Studio and PostgreSQL listen there
    with pytest.raises(OmaError, match="one address"):
        guard_env("127.0.0.0/30")
    assert guard_env(None) == {"USE_DEFAULT_BANNED_SUBNETS": "true"}
    env = server.team_env("https://192.0.2.10:8443", "192.0.2.10")
    secure = (env["SESSION_COOKIE_SECURE"], env["CSRF_COOKIE_SECURE"], env["SSRF_PROTECTION_ENABLED"])
    assert secure == ("1", "1", "true")
    assert env["CSRF_TRUSTED_ORIGINS"] == "https://192.0.2.10:8443"
