"""Project instructions generated from the labeller manual, shown where the labeller works.

Label Studio shows a project's ``expert_instruction`` (HTML) before labelling when
``show_instruction`` is on, and on demand from the labelling page's info button. The text is the
manual's decision tree and verdicts (rendered with Python-Markdown, which MkDocs itself uses), the
usage policy when the manual has one, and links to the served manual (``oma manual serve``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from oma_analysis import OmaError
from oma_analysis.locations import manual_dir

# The pages a labeller needs while labelling, in the order shown; a page absent from this manual
# version (e.g. the usage policy before rubric 2.0) is left out, not invented.
PAGES = ("decision-tree.md", "usage-policy.md")


def manual_version(docs: Path | None = None) -> str:
    """A short hash of the manual's Markdown sources: which manual text a batch was labelled with."""
    docs = docs or manual_dir() / "docs"
    if not docs.is_dir():
        raise OmaError(f"manual sources not found at {docs}")
    h = hashlib.sha256()
    for p in sorted(docs.rglob("*.md")):
        h.update(str(p.relative_to(docs)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def instructions_html(manual_url: str | None = None, docs: Path | None = None) -> str:
    """HTML for ``expert_instruction``: the decision tree (and usage policy), then manual links."""
    import markdown

    docs = docs or manual_dir() / "docs"
    parts = []
    for name in PAGES:
        page = docs / name
        if page.exists():
            html = markdown.markdown(page.read_text(encoding="utf-8"), extensions=["tables", "fenced_code"])
            # the decision tree is a wide code block: wrap it inside Label Studio's modal
            parts.append(html.replace("<pre>", '<pre style="white-space:pre-wrap;font-size:12px">'))
    if not parts:
        raise OmaError(f"{docs}: none of {PAGES} found; cannot generate project instructions")
    if manual_url:
        base = manual_url.rstrip("/")
        links = [("The whole manual", "/"), ("Worked examples", "/worked-examples/"),
                 ("Ambiguous cases", "/ambiguous/"), ("Questions and choices", "/reference/questions/")]
        parts.append("<h2>Manual</h2><ul>" + "".join(f'<li><a href="{base}{p}" target="_blank">{t}</a></li>'
                                                     for t, p in links) + "</ul>")
    parts.append(f"<p><small>manual {manual_version(docs)}</small></p>")
    return "\n".join(parts)
