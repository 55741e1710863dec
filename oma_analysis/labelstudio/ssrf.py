"""Label Studio's SSRF guard in team mode, with exactly one address let through: the ML backend's.

Label Studio bans its default list of reserved networks (loopback, private, link-local ...) for
webhooks, cloud storages, URL imports and ML backends while ``USE_DEFAULT_BANNED_SUBNETS`` is on.
An ML backend on such an address cannot even be registered then: Label Studio adds a webhook to
``<backend>/webhook`` on creation and that check ignores ``ML_BLOCK_LOCAL_IP``. Its only knob is
``USER_ADDITIONAL_BANNED_SUBNETS``, a list of banned networks, so an exemption is written as Label
Studio's own default list minus one /32 (/128). The list is read from the installed Label Studio's
source, not copied, so it follows Label Studio upgrades.
"""

from __future__ import annotations

import ast
import ipaddress
from functools import cache
from pathlib import Path

from oma_analysis import OmaError


@cache
def default_banned_subnets() -> tuple[str, ...]:
    """``default_banned_subnets`` from ``label_studio/core/utils/io.py:validate_ip``, in Label Studio's
    own environment (found, not imported: its interpreter only locates the package)."""
    import subprocess

    from oma_analysis.locations import label_studio_env, label_studio_python

    python = label_studio_python()
    code = "import importlib.util as u; s = u.find_spec('label_studio'); print(s.origin if s else '')"
    res = subprocess.run([str(python), "-c", code], env=label_studio_env(), capture_output=True, text=True,
                         timeout=120)
    if res.returncode != 0 or not res.stdout.strip():
        raise OmaError(f"label-studio is not installed in Label Studio's environment ({python})")
    src = Path(res.stdout.strip()).parent / "core" / "utils" / "io.py"
    for node in ast.walk(ast.parse(src.read_text())):
        names = [getattr(t, "id", None) for t in getattr(node, "targets", ())]
        if isinstance(node, ast.Assign) and "default_banned_subnets" in names:
            return tuple(ast.literal_eval(node.value))
    raise OmaError(f"{src}: no default_banned_subnets list (Label Studio changed); team mode cannot keep its guard")


def banned_except(addr: str) -> list[str]:
    """Label Studio's default banned networks with ``addr`` carved out (and nothing else)."""
    try:
        hole = ipaddress.ip_network(addr)
    except ValueError:
        raise OmaError(f"--backend-addr: {addr!r} is not an IP address") from None
    if hole.num_addresses != 1:
        raise OmaError(f"--backend-addr: {addr!r} must be one address, not a network")
    out: list[str] = []
    for text in default_banned_subnets():
        net = ipaddress.ip_network(text)
        if net.version == hole.version and hole.subnet_of(net):
            out.extend(str(n) for n in sorted(net.address_exclude(hole)))
        else:
            out.append(text)
    return out


def guard_env(backend_addr: str | None) -> dict[str, str]:
    if not backend_addr:
        return {"USE_DEFAULT_BANNED_SUBNETS": "true"}
    banned = banned_except(backend_addr)  # validates the address first
    if ipaddress.ip_address(backend_addr) == ipaddress.ip_address("127.0.0.1"):
        # 127.0.0.1 is where Label Studio, PostgreSQL and most local services listen.
        raise OmaError("--backend-addr: use a dedicated address for the backend (e.g. 127.0.0.3), "
                       "not 127.0.0.1, so nothing else is exempted from Label Studio's SSRF guard")
    return {"USE_DEFAULT_BANNED_SUBNETS": "false",
            "USER_ADDITIONAL_BANNED_SUBNETS": ",".join(banned)}
