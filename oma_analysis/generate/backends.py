"""The two generators: a local transformers model (``hf:PATH``) and any OpenAI-compatible server
(``openai:BASE_URL#MODEL``). Both turn (messages, variant, params) into text.

>>> parse_model("openai:http://127.0.0.1:8000/v1#tiny")
('openai', 'http://127.0.0.1:8000/v1', 'tiny')
>>> parse_model("hf:/models/x")
('hf', '/models/x', '/models/x')
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from oma_analysis import OmaError
from oma_analysis.generate.framing import DOCUMENT_STOP, Variant, chat_text, cut_at_stop, document_prefix

API_KEY_ENVS = ("OPENAI_API_KEY", "OMA_API_KEY")


def parse_model(spec: str) -> tuple[str, str, str]:
    """(backend, location, model name) from ``hf:PATH`` or ``openai:BASE_URL#MODEL``; ``local:NAME``
    and ``gguf:FILE`` run on the transformers backend too (location resolved by :func:`make_generator`)."""
    if spec.startswith(("local:", "gguf:")) and len(spec) > 6:
        return "hf", spec, spec
    if spec.startswith("hf:") and len(spec) > 3:
        return "hf", spec[3:], spec[3:]
    if spec.startswith("openai:") and "#" in spec:
        base, _, name = spec[7:].rpartition("#")
        if base and name:
            return "openai", base, name
    raise OmaError(f"--model {spec!r}: expected hf:PATH or openai:BASE_URL#MODEL (or local:NAME, gguf:FILE)")


@dataclass(frozen=True)
class GenParams:
    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 256

    def for_variant(self, v: Variant) -> dict[str, Any]:
        t = self.temperature if v.temperature is None else v.temperature
        return {"temperature": t, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens,
                "do_sample": t > 0}


@dataclass
class Output:
    text: str
    input_text: str | None  # the framed text the model saw (None: chat messages sent as-is)
    finish_reason: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        """Cut by the token limit (not by end-of-turn or a stop string): length-type checks
        cannot judge it ("not evaluable")."""
        return self.finish_reason == "length"


class Generator(Protocol):
    """What every generator does: a batch of chats under one variant -> one Output per chat.
    ``oma generate``, ``oma run``, the capability probes and the ML backend's probe all call this."""

    backend: str

    def generate(self, batch: list[list[dict[str, str]]], v: Variant, p: dict[str, Any], seed: int
                 ) -> list[Output]: ...


def make_generator(spec: str, device: str | None = None) -> Generator:
    """The one constructor: ``local:NAME`` (packaged models), ``hf:PATH``, ``gguf:FILE`` or
    ``openai:BASE_URL#MODEL`` (also a named endpoint from ``$OMA_HOME/models.yaml``)."""
    from oma_analysis.generate.models import check_available, checkpoint

    m = check_available(spec)
    if os.environ.get("OMA_TORCH_THREADS"):
        # On a small shared CPU, one thread per process avoids OpenMP workers spin-waiting for
        # each other while descheduled (measured here: 5-12x slower with 2 threads under load).
        import torch

        torch.set_num_threads(int(os.environ["OMA_TORCH_THREADS"]))
    if m.spec.startswith("openai:"):
        _, base, name = parse_model(m.spec)
        return OpenAIGenerator(base, name)
    return HFGenerator(str(checkpoint(m.spec)), device=device)


class HFGenerator:
    """Local causal LM via transformers; batches with left padding; seeded per batch."""

    backend = "transformers"

    def __init__(self, path: str, device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            self.tok = AutoTokenizer.from_pretrained(path)
            self.model = AutoModelForCausalLM.from_pretrained(path)
        except OSError as exc:
            raise OmaError(f"--model hf:{path}: cannot load ({exc})") from None
        self.tok.padding_side = "left"  # decoder-only models continue from the right edge
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()

    def frame(self, messages: list[dict[str, str]], v: Variant) -> tuple[str, tuple[str, ...]]:
        if v.framing == "completion":
            return document_prefix(messages), DOCUMENT_STOP
        return chat_text(messages, self.tok)

    def generate(self, batch: list[list[dict[str, str]]], v: Variant, p: dict[str, Any], seed: int
                 ) -> list[Output]:
        import torch

        framed = [self.frame(m, v) for m in batch]
        enc = self.tok([f[0] for f in framed], return_tensors="pt", padding=True,
                       add_special_tokens=False).to(self.device)
        kw: dict[str, Any] = {"max_new_tokens": p["max_new_tokens"], "do_sample": p["do_sample"],
                              "pad_token_id": self.tok.pad_token_id}
        if p["do_sample"]:
            kw.update(temperature=p["temperature"], top_p=p["top_p"])
        torch.manual_seed(seed)  # per batch, derived from the run seed and the batch's cache keys
        with torch.no_grad():
            out = self.model.generate(**enc, **kw)
        res = []
        n_in = enc["input_ids"].shape[1]
        ends = self._end_ids()
        full = out.shape[1] - n_in >= p["max_new_tokens"]  # else every row ended before the limit
        for row, (text_in, stops) in zip(out, framed, strict=True):
            new = row[n_in:]
            text = self.tok.decode(new, skip_special_tokens=True)
            text, stopped = cut_at_stop(text, stops)
            hit_eos = not full or any(int(t) in ends for t in new)
            reason = "stop" if stopped or hit_eos else "length"
            res.append(Output(text.strip(), text_in, reason, {"stop": list(stops)}))
        return res

    def generate_one(self, messages: list[dict[str, str]], v: Variant, p: dict[str, Any], seed: int) -> Output:
        return self.generate([messages], v, p, seed)[0]

    def _end_ids(self) -> set[int]:
        """Token ids that end a turn: the tokenizer's EOS and pad, and the generation config's EOS
        (instruct models often end on an end-of-turn token that is not the tokenizer's EOS)."""
        ids = {self.tok.eos_token_id, self.tok.pad_token_id}
        gc = getattr(self.model, "generation_config", None)
        e = getattr(gc, "eos_token_id", None) if gc is not None else None
        ids.update(e if isinstance(e, list) else [e])
        return {int(i) for i in ids if i is not None}


def api_key() -> str | None:
    """The API key from the environment (never logged, never written to a record)."""
    for k in API_KEY_ENVS:
        if os.environ.get(k):
            return os.environ[k]
    return None


class OpenAIGenerator:
    """OpenAI-compatible server: chat framing -> /chat/completions, completion framing ->
    /completions. Transient failures are retried with exponential backoff and jitter."""

    backend = "openai"

    def __init__(self, base_url: str, model: str, max_retries: int = 5, backoff: float = 0.5,
                 timeout: float = 120.0) -> None:
        from openai import OpenAI

        # Local servers often need no key; the client insists on a non-empty string.
        self.client = OpenAI(base_url=base_url, api_key=api_key() or "not-needed", max_retries=0,
                             timeout=timeout)
        self.model = model
        self.max_retries = max_retries
        self.backoff = backoff

    def _call(self, fn: Any, rng: random.Random) -> tuple[Any, int]:
        import openai

        transient = (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError,
                     openai.InternalServerError)
        for attempt in range(self.max_retries + 1):
            try:
                return fn(), attempt + 1
            except transient as exc:
                if attempt == self.max_retries:
                    raise OmaError(f"openai:{self.client.base_url}: gave up after {attempt + 1} attempts "
                                   f"({type(exc).__name__})") from None
                time.sleep(self.backoff * 2**attempt * (0.5 + rng.random()))
            except openai.APIStatusError as exc:  # 4xx other than 429: retrying will not help
                raise OmaError(f"openai:{self.client.base_url}: request refused "
                               f"(HTTP {exc.status_code}: {exc.message})") from None
        raise AssertionError("unreachable")

    def generate_one(self, messages: list[dict[str, str]], v: Variant, p: dict[str, Any], seed: int) -> Output:
        rng = random.Random(seed)
        common: dict[str, Any] = {"model": self.model, "temperature": p["temperature"], "top_p": p["top_p"],
                                  "max_tokens": p["max_new_tokens"], "seed": seed}
        if v.framing == "completion":
            prompt = document_prefix(messages)
            resp, attempts = self._call(
                lambda: self.client.completions.create(prompt=prompt, stop=list(DOCUMENT_STOP), **common), rng)
            ch = resp.choices[0]
            return Output(ch.text.strip(), prompt, ch.finish_reason or "",
                          {"attempts": attempts, "stop": list(DOCUMENT_STOP), "response_model": resp.model})
        resp, attempts = self._call(
            lambda: self.client.chat.completions.create(messages=messages, **common), rng)
        ch = resp.choices[0]
        return Output((ch.message.content or "").strip(), None, ch.finish_reason or "",
                      {"attempts": attempts, "response_model": resp.model})

    def generate(self, batch: list[list[dict[str, str]]], v: Variant, p: dict[str, Any], seed: int
                 ) -> list[Output]:
        # One request per chat (the API has no batch call); the runner adds concurrency.
        return [self.generate_one(m, v, p, seed + i) for i, m in enumerate(batch)]
