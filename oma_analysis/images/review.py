"""Image review tasks: ``{prompt, image_path | url, model}`` JSONL records -> blinded Label Studio
tasks with the rubric's review form, its completion shown as an image.

Blinding: a local file is served *inside* the task as a ``data:`` URL (its bytes, never its file
name or folder, which often name the model); a remote ``url`` is passed through only when it names
no model or variant (``assert_blind`` refuses the push otherwise). Model and variant go to the code
map. The form keeps every question name of the review form, so the loader, the capable +
distinguishable rule and the rates work unchanged; the text evidence highlighter is left out
(there is no text to mark).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

from oma_analysis import OmaError
from oma_analysis.rubric import RUBRIC, Rubric
from oma_analysis.tasks.blinding import CodeMap

# Magic bytes of the formats browsers show (the content decides, not a file name extension).
_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif",
          b"RIFF": "image/webp"}
MAX_BYTES = 8 * 1024 * 1024  # inlined in the task: keep Label Studio's database sane


def render_image_review(r: Rubric = RUBRIC) -> str:
    """The review form with ``<Image name="completion" value="$image">`` instead of the text."""
    from oma_analysis.rubric.xml import render_review

    xml = render_review(r)
    text = '<Text name="completion" value="$completion"/>'
    name = re.escape(r.evidence_question)
    ev = re.search(rf'  <Header value="[^"]*" size="6"/>\n  <Labels name="{name}".*?</Labels>\n', xml, re.S)
    if text not in xml or ev is None:
        raise OmaError("review.xml layout changed: cannot derive the image review form")
    xml = xml.replace(ev.group(0), "").replace(text, '<Image name="completion" value="$image" zoom="true"/>')
    return xml.replace("Completion (model hidden)", "Image (model hidden)")


def _mime(data: bytes, where: str) -> str:
    for magic, mime in _MAGIC.items():
        if data.startswith(magic):
            return mime
    raise OmaError(f"{where}: not a PNG, JPEG, GIF or WebP image")


def read_image_records(path: str | Path) -> list[dict]:
    """The records of an image JSONL; ``image_path`` relative to the file's folder."""
    path = Path(path)
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}: line {n}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise OmaError(f"{where}: not JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise OmaError(f"{where}: expected a JSON object")
        for f in ("prompt", "model"):
            if not isinstance(rec.get(f), str) or not rec[f].strip():
                raise OmaError(f"{where}: field {f!r}: missing or not a string")
        if ("image_path" in rec) == ("url" in rec):
            raise OmaError(f"{where}: field 'image_path' or 'url': give exactly one")
        if "image_path" in rec:
            p = Path(rec["image_path"])
            rec = {**rec, "image_path": str(p if p.is_absolute() else (path.parent / p))}
        out.append(rec)
    return out


def image_tasks(records: list[dict], codes: CodeMap, source: str = "images") -> list[dict]:
    """Blinded review tasks (``data``: messages, image, completion_code, prompt_id)."""
    tasks = []
    for i, rec in enumerate(records, 1):
        where = f"{source}: record {i}"
        if "image_path" in rec:
            p = Path(rec["image_path"])
            if not p.is_file():
                raise OmaError(f"{where}: field 'image_path': {p} not found")
            data = p.read_bytes()
            if len(data) > MAX_BYTES:
                raise OmaError(f"{where}: field 'image_path': {p} is over {MAX_BYTES // 2**20} MB")
            image = f"data:{_mime(data, where + ': field image_path')};base64," + base64.b64encode(data).decode()
            content = hashlib.sha256(data).hexdigest()[:24]
        else:
            image, content = rec["url"], hashlib.sha256(rec["url"].encode()).hexdigest()[:24]
        prompt_id = str(rec.get("prompt_id") or "img" + hashlib.sha256(rec["prompt"].encode()).hexdigest()[:12])
        key = hashlib.sha256(json.dumps([prompt_id, content, rec["model"], rec.get("variant")]).encode()).hexdigest()
        code = next((c for c, m in codes.items() if m.get("content_sha") == key[:24]), None)
        if code is None:
            meta = {k: v for k, v in rec.items() if k not in ("prompt", "image_path", "url")}
            code = codes.add(**{**meta, "prompt_id": prompt_id, "content_sha": key[:24], "kind": "image"})
        tasks.append({"data": {"messages": [{"role": "user", "content": rec["prompt"]}], "image": image,
                               "completion_code": code, "prompt_id": prompt_id}})
    return tasks
