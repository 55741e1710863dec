"""Ask the *evaluated* model a labeller's probe (interactive pre-annotation of probe.xml).

The generator is configured by ``OMA_PROBE_MODEL``, any spec ``oma generate`` takes (``local:NAME``
for a packaged model such as ``local:smollm2-135m-instruct``, ``hf:PATH``, ``gguf:FILE`` or
``openai:BASE_URL#MODEL``), built by the one constructor ``oma_analysis.generate.backends.make_generator``
and called through the one ``Generator`` protocol. One generator per process, loaded on first use
and shared by all requests (a lock serialises calls, because a transformers model is not safe to
call from several threads at once).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from ml_backend.spec import BadPayload, ConfigSpec
from oma_analysis import OmaError

if TYPE_CHECKING:
    from oma_analysis.generate.backends import Generator

_lock = threading.Lock()
_generators: dict[str, Generator] = {}


def probe_model() -> str | None:
    return os.environ.get("OMA_PROBE_MODEL") or None


def _generator(spec: str) -> Generator:
    from oma_analysis.generate.backends import make_generator

    if spec not in _generators:
        _generators[spec] = make_generator(spec, device="cpu")
    return _generators[spec]


def ask(text: str, *, model: str | None = None, seed: int = 0) -> str:
    """The evaluated model's answer to ``text`` as a one-turn chat (greedy unless
    ``OMA_PROBE_TEMPERATURE`` says otherwise, so the same probe gives the same answer)."""
    from oma_analysis.generate.backends import GenParams
    from oma_analysis.generate.framing import Variant

    spec = model or probe_model()
    if not spec:
        raise OmaError("no evaluated model configured for probing: set OMA_PROBE_MODEL=local:NAME, hf:PATH "
                       "or openai:BASE_URL#MODEL")
    params = GenParams(temperature=float(os.environ.get("OMA_PROBE_TEMPERATURE", "0")),
                       max_new_tokens=int(os.environ.get("OMA_PROBE_MAX_TOKENS", "256")))
    v = Variant("probe", "chat", params.temperature)
    messages = [{"role": "user", "content": text}]
    with _lock:
        gen = _generator(spec)
        return gen.generate([messages], v, params.for_variant(v), seed)[0].text


def probe_text(context: Any, spec: ConfigSpec) -> str | None:
    """The labeller's probe from an interactive request's ``context``: the ``result`` items that
    Label Studio's editor sends for the smart TextArea (``value.text``). None when not a probe."""
    if context is None:
        return None
    if not isinstance(context, dict):
        raise BadPayload("params.context must be an object with a 'result' list")
    result = context.get("result") or []
    if not isinstance(result, list):
        raise BadPayload("params.context.result must be a list of result items")
    for i, r in enumerate(result):
        if not isinstance(r, dict):
            raise BadPayload(f"params.context.result[{i}] must be an object")
        if r.get("from_name") != spec.probe_input:
            continue
        texts = (r.get("value") or {}).get("text")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise BadPayload(f"params.context.result[{i}].value.text must be a list of strings")
        joined = "\n".join(t for t in texts if t.strip())
        if joined.strip():
            return joined
    return None


def answer_result(spec: ConfigSpec, answer: str) -> dict[str, Any]:
    return {"from_name": spec.probe_answer, "to_name": spec.probe_to_name, "type": "textarea",
            "value": {"text": [answer]}}
