"""oma generate on a tiny GPT-2 built here, locally and through an OpenAI-compatible server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from oma_analysis import OmaError
from oma_analysis.cli import main
from oma_analysis.generate.framing import chat_text, document_prefix, parse_variants
from oma_analysis.generate.records import content_hash, read_completions
from oma_analysis.generate.tiny import build_tiny_lm
from oma_analysis.prompts.records import write_prompts
from oma_analysis.prompts.templates import sample
from oma_analysis.tasks.build import build

VARIANTS = "chat,completion,temp:0,temp:0.7,temp:1.0"
SECRET_KEY = "sk-test-never-logged-0123456789"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    return {"plain": build_tiny_lm(d / "plain"), "chat": build_tiny_lm(d / "chat", chat_template=True)}


@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("prompts") / "prompts.jsonl"
    write_prompts(sample(4, seed=11), p)
    return p


def _gen(*args):
    return CliRunner().invoke(main, ["generate", *map(str, args), "--max-new-tokens", "12"])


def test_tiny_lm_all_variants_recorded_and_resumable(tiny, prompt_file, tmp_path):
    out = tmp_path / "c.jsonl"
    res = _gen(prompt_file, "--model", f"hf:{tiny['plain']}", "--out", out, "--variants", VARIANTS,
               "--samples", "2", "--seed", "4")
    assert res.exit_code == 0, res.output
    recs = read_completions(out)
    assert len(recs) == 4 * 5 * 2
    temps = {"chat": 0.7, "completion": 0.7, "temp:0": 0.0, "temp:0.7": 0.7, "temp:1.0": 1.0}
    for r in recs:
        assert r.model == f"hf:{tiny['plain']}" and r.seed == 4 and r.created
        assert r.params["temperature"] == temps[r.variant]
        assert r.params["do_sample"] == (temps[r.variant] > 0)
        assert r.params["max_new_tokens"] == 12 and r.params["top_p"] == 1.0 and "sampling_seed" in r.params
        assert r.content_hash == content_hash(r.text)
        framing = "completion" if r.variant == "completion" else "chat"
        assert r.framing == framing
        expect = document_prefix(r.messages) if framing == "completion" else chat_text(r.messages, None)[0]
        assert r.meta["input_text"] == expect
    greedy = [r for r in recs if r.variant == "temp:0"]
    by_prompt = {}
    for r in greedy:
        by_prompt.setdefault(r.prompt_id, set()).add(r.text)
    assert all(len(v) == 1 for v in by_prompt.values())  # temperature 0 is greedy: samples agree
    # resume: nothing to do
    res = _gen(prompt_file, "--model", f"hf:{tiny['plain']}", "--out", out, "--variants", VARIANTS,
               "--samples", "2", "--seed", "4")
    assert "0 generated, 40 already done" in res.output
    # drop some lines: exactly those are regenerated
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:33]) + "\n")
    res = _gen(prompt_file, "--model", f"hf:{tiny['plain']}", "--out", out, "--variants", VARIANTS,
               "--samples", "2", "--seed", "4")
    assert "7 generated, 33 already done" in res.output
    assert sorted(r.key for r in read_completions(out)) == sorted(r.key for r in recs)
    # a new seed is a different cache key
    res = _gen(prompt_file, "--model", f"hf:{tiny['plain']}", "--out", out, "--variants", "chat", "--seed", "5")
    assert "4 generated, 0 already done" in res.output


def test_chat_template_used_when_the_tokenizer_has_one(tiny, prompt_file, tmp_path):
    out = tmp_path / "c.jsonl"
    res = _gen(prompt_file, "--model", f"hf:{tiny['chat']}", "--out", out, "--variants", "chat,completion")
    assert res.exit_code == 0, res.output
    recs = read_completions(out)
    chat = [r for r in recs if r.variant == "chat"]
    assert all(r.meta["input_text"].startswith("<|user|>") and r.meta["input_text"].endswith("<|assistant|>")
               for r in chat)
    assert all(r.meta["input_text"].startswith("Below is a request") for r in recs if r.variant == "completion")


def test_generated_completions_build_blind_review_and_compare_tasks(tiny, prompt_file, tmp_path):
    out = tmp_path / "c.jsonl"
    _gen(prompt_file, "--model", f"hf:{tiny['plain']}", "--out", out, "--variants", VARIANTS)
    recs = read_completions(out)
    names = {r.model for r in recs} | {str(tiny["plain"]), tiny["plain"].name}
    for kind in ("review", "compare"):
        b = build(recs, kind, seed=0, baseline="chat")
        assert b.tasks
        blob = json.dumps(b.tasks)
        assert not any(n in blob for n in names)
        for t in b.tasks:  # no variant name or generation parameter outside the free text
            d = t["data"]
            for k in ("prompt_id", "completion_code", "left_code", "right_code", "pair_code"):
                if k in d:
                    assert not any(v in d[k] for v in VARIANTS.split(",")) and "temperature" not in d[k]
            assert "temperature" not in json.dumps({k: v for k, v in d.items() if k != "messages"})


# ---- OpenAI-compatible path ----------------------------------------------------------------
class TinyServer:
    """Serves the tiny model over /v1/chat/completions and /v1/completions on 127.0.0.1; requires
    the bearer key, and answers 503 to the first request to exercise the client's backoff."""

    def __init__(self, path):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path).eval()
        self.torch = torch
        self.lock = threading.Lock()
        self.requests: list[tuple[str, dict]] = []
        self.fail_next = 1
        srv = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
                    return self._send(401, {"error": {"message": "bad key"}})
                with srv.lock:
                    srv.requests.append((self.path, body))
                    if srv.fail_next:
                        srv.fail_next -= 1
                        return self._send(503, {"error": {"message": "warming up"}})
                if self.path == "/v1/chat/completions":
                    text = srv.complete(chat_text(body["messages"], None)[0], body)
                    return self._send(200, {"id": "x", "object": "chat.completion", "created": int(time.time()),
                                            "model": body["model"], "choices": [{
                                                "index": 0, "finish_reason": "length",
                                                "message": {"role": "assistant", "content": text}}]})
                if self.path == "/v1/completions":
                    text = srv.complete(body["prompt"], body)
                    return self._send(200, {"id": "y", "object": "text_completion", "created": int(time.time()),
                                            "model": body["model"], "choices": [{
                                                "index": 0, "text": text, "finish_reason": "length",
                                                "logprobs": None}]})
                self._send(404, {"error": {"message": "no such endpoint"}})

            def _send(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def complete(self, prompt: str, body: dict) -> str:
        enc = self.tok(prompt, return_tensors="pt")
        t = float(body.get("temperature") or 0)
        kw = {"do_sample": t > 0, "max_new_tokens": int(body.get("max_tokens") or 16),
              "pad_token_id": self.tok.pad_token_id}
        if t > 0:
            kw["temperature"] = t
        with self.lock, self.torch.no_grad():
            self.torch.manual_seed(int(body.get("seed") or 0))
            out = self.model.generate(**enc, **kw)
        return self.tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def test_openai_path_against_a_local_server(tiny, prompt_file, tmp_path, monkeypatch):
    srv = TinyServer(tiny["plain"])
    try:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.setenv("OMA_API_KEY", SECRET_KEY)
        out = tmp_path / "api.jsonl"
        spec = f"openai:{srv.url}#tiny-served"
        res = _gen(prompt_file, "--model", spec, "--out", out, "--variants", "chat,completion,temp:0",
                   "--concurrency", "3", "--seed", "2")
        assert res.exit_code == 0, res.output
        recs = read_completions(out)
        assert len(recs) == 4 * 3
        assert {r.model for r in recs} == {spec}
        paths = [p for p, _ in srv.requests]
        assert paths.count("/v1/completions") >= 4 and paths.count("/v1/chat/completions") >= 8
        assert len(srv.requests) == 13  # one 503 retried
        assert sum(r.meta["attempts"] for r in recs) == 13
        sent = [b for p, b in srv.requests if p == "/v1/completions"]
        assert all(b["prompt"].startswith("Below is a request") and b["model"] == "tiny-served" for b in sent)
        assert {b["temperature"] for _, b in srv.requests} == {0.7, 0.0}
        for r in recs:
            assert r.params["backend"] == "openai" and r.meta["response_model"] == "tiny-served"
        assert SECRET_KEY not in out.read_text() and SECRET_KEY not in res.output
        # resume skips everything; a wrong key is a clear refusal, not a retry loop
        n = len(srv.requests)
        assert "0 generated, 12 already done" in _gen(prompt_file, "--model", spec, "--out", out, "--variants",
                                                      "chat,completion,temp:0", "--seed", "2").output
        assert len(srv.requests) == n
        monkeypatch.setenv("OMA_API_KEY", "wrong-key")
        res = _gen(prompt_file, "--model", spec, "--out", tmp_path / "x.jsonl", "--variants", "chat")
        assert res.exit_code == 2 and "HTTP 401" in res.output and "wrong-key" not in res.output
    finally:
        srv.httpd.shutdown()


def test_bad_model_spec_and_variants_are_clear_errors(prompt_file, tmp_path):
    with pytest.raises(OmaError, match="temp"):
        parse_variants("chat,temp:hot")
    res = CliRunner().invoke(main, ["generate", str(prompt_file), "--model", "gpt-4", "--out",
                                    str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and "expected hf:PATH or openai:BASE_URL#MODEL" in res.output


# ---- capability evidence ------------------------------------------------------------------
def test_capability_table_from_real_checks(tiny, tmp_path):
    import csv

    from oma_analysis.generate.records import Completion
    from oma_analysis.stats.capabilities import evaluate, probe_prompts

    probes = probe_prompts()
    good = {"cap:correct_length:w1": "Grey clouds, soft rain, wet streets.",
            "cap:sentence_count:s1": "The Moon orbits Earth. It has no air.",
            "cap:sentiment:t1": "Negative."}
    bad = {"cap:correct_length:w1": " ".join(["rain"] * 60) + ".",
           "cap:sentence_count:s1": "The Moon orbits Earth. It has no air. It is grey.",
           "cap:sentiment:t1": "Positive."}
    msgs = {p.id: p.messages for p in probes}
    comps = [Completion.make(prompt_id=pid, messages=msgs[pid], model=m, variant=v, text=txt, sample=s)
             for m, texts in (("good-model", good), ("bad-model", bad)) for pid, txt in texts.items()
             for v in ("chat", "completion") for s in range(6)]
    rows = {(r.model, r.item): r for r in evaluate(comps, probes)}
    for item in ("correct_length", "sentence_count", "sentiment"):
        g, b = rows[("good-model", item)], rows[("bad-model", item)]
        assert g.pass_rate == 1.0 and g.demonstrated and g.n == 6 and g.ci_low > 0.5
        assert b.pass_rate == 0.0 and not b.demonstrated and b.ci_high < 0.5
    # end to end through the generator on the tiny model
    out = tmp_path / "caps.csv"
    res = CliRunner().invoke(main, ["capabilities", "--model", f"hf:{tiny['plain']}", "--out", str(out),
                                    "--samples", "1", "--max-new-tokens", "8", "--variants", "chat,temp:0"])
    assert res.exit_code == 0, res.output
    table = list(csv.DictReader(out.open()))
    assert {r["item"] for r in table} == {p.meta["probe_item"] for p in probes}
    for r in table:
        n, k = int(r["n"]), int(r["passes"])
        assert r["best_variant"] in ("chat", "temp:0") and k <= n
        assert float(r["ci_low"]) <= (k / n if n else 0) <= float(r["ci_high"])
    assert next(r for r in table if r["item"] == "sentiment")["demonstrated"] == "False"  # random weights
