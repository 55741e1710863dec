"""The built manual, served with no network: every asset a page loads must be local.

MkDocs' own theme loads highlight.js from a CDN unless ``highlightjs: false`` (set in
manual/mkdocs.yml); :func:`external_assets` checks the built site so a theme change that brings a
CDN back fails loudly instead of leaving labellers with a broken page offline.
"""

from __future__ import annotations

import re
from pathlib import Path

# What a browser fetches by itself: scripts, stylesheets, images, fonts, iframes (not <a href>).
_ASSET = re.compile(r"""<(?:script|img|iframe|source)\b[^>]*\bsrc=["']([^"']+)["']"""
                    r"""|<link\b[^>]*\bhref=["']([^"']+)["']"""
                    r"""|url\(\s*["']?([^"')]+)""", re.I)


def external_assets(site: str | Path) -> list[tuple[str, str]]:
    """(file, url) for every asset in the built site that is fetched from another host."""
    site = Path(site)
    out = []
    for p in sorted([*site.rglob("*.html"), *site.rglob("*.css")]):
        for m in _ASSET.finditer(p.read_text(encoding="utf-8", errors="replace")):
            url = next(g for g in m.groups() if g)
            if re.match(r"^(https?:)?//", url):
                out.append((str(p.relative_to(site)), url))
    return out


def serve(site: str | Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``site`` over HTTP until interrupted (the standard library's static file server)."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    with ThreadingHTTPServer((host, port), handler) as httpd:
        httpd.serve_forever()
