"""The two real local models (installed from PyPI: SmolLM2-135M-Instruct and Gemma-3-270M base, GGUF)
generate through `oma generate` under two framings and two temperatures; `oma models` lists them with
their metadata. Each model is loaded once for this module (the GGUF is dequantised once into the
model cache, so reruns load a saved checkpoint in seconds)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from oma_analysis.cli import main
from oma_analysis.generate.backends import GenParams, make_generator
from oma_analysis.generate.framing import parse_variants
from oma_analysis.generate.models import deployed_variant, info
from oma_analysis.generate.records import read_completions
from oma_analysis.generate.runner import run
from oma_analysis.prompts.records import PromptRecord


def one_thread() -> None:
    """One torch thread: on the shared 2-core machine two OpenMP threads per process spin-wait
    for each other under load (measured 5-12x slower)."""
    import torch

    torch.set_num_threads(1)


MODELS = ("local:smollm2-135m-instruct", "local:gemma3-270m")
VARIANTS = "chat+temp:0,completion+temp:0,chat+temp:0.8,completion+temp:0.8"
MAX_NEW = 16
PROMPTS = [
    PromptRecord("p:fr", [{"role": "user", "content": "Answer in French: what colour is the sky?"}], "other"),
    PromptRecord("p:two", [{"role": "user", "content": "Write exactly two sentences about trains."}], "other"),
]


@pytest.fixture(scope="module", params=MODELS)
def model(request):
    one_thread()
    return request.param, make_generator(request.param)


def test_oma_models_lists_both_with_metadata():
    res = CliRunner().invoke(main, ["models", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["spec"]: r for r in map(json.loads, res.output.splitlines())}
    assert set(MODELS) <= set(rows)
    s, g = rows[MODELS[0]], rows[MODELS[1]]
    assert s["available"] and g["available"]
    assert (s["kind"], s["params_m"], s["licence"]) == ("instruct", 135.0, "Apache-2.0")
    assert (g["kind"], g["regime"], g["licence"]) == ("base", "pretrained", "Gemma Terms of Use")
    assert s["deployed_variant"] == "chat+temp:0" and g["deployed_variant"] == "completion+temp:0"
    assert deployed_variant(info(MODELS[1])) == g["deployed_variant"]


def test_generates_under_two_framings_and_two_temperatures(model, tmp_path):
    spec, gen = model
    out = tmp_path / "c.jsonl"
    res = run(PROMPTS, spec, out, parse_variants(VARIANTS), seed=3, params=GenParams(max_new_tokens=MAX_NEW),
              batch_size=8, progress=False, generator=gen)
    assert (res.generated, res.skipped) == (len(PROMPTS) * 4, 0)
    recs = read_completions(out)
    seen = {(r.framing, r.params["temperature"]) for r in recs}
    assert seen == {("chat", 0.0), ("completion", 0.0), ("chat", 0.8), ("completion", 0.8)}
    for r in recs:
        assert r.model == spec and r.params["max_new_tokens"] == MAX_NEW
        assert r.params["do_sample"] == (r.params["temperature"] > 0)
        # truncation is marked exactly when the token limit, not the model, ended the answer
        assert r.meta["truncated"] == (r.meta["finish_reason"] == "length")
        if r.framing == "completion":
            assert r.meta["input_text"].endswith("Answer:\n")
        elif spec == MODELS[0]:  # SmolLM2 ships a chat template: its own turn markers are used
            assert "<|im_start|>assistant" in r.meta["input_text"]
    assert sum(bool(r.text.strip()) for r in recs) >= len(recs) // 2, [r.text for r in recs]
    # greedy is reproducible: the same prompts again give the same text
    again = gen.generate([p.messages for p in PROMPTS], parse_variants("chat+temp:0")[0],
                         GenParams(max_new_tokens=MAX_NEW).for_variant(parse_variants("chat+temp:0")[0]), 0)
    greedy = {r.prompt_id: r.text for r in recs if r.variant == "chat+temp:0"}
    assert [o.text for o in again] == [greedy[p.id] for p in PROMPTS]
    # resumable: a rerun finds everything done
    assert run(PROMPTS, spec, out, parse_variants(VARIANTS), seed=3, params=GenParams(max_new_tokens=MAX_NEW),
               progress=False, generator=gen).skipped == len(recs)


def test_token_limit_marks_truncation(model, tmp_path):
    spec, gen = model
    v = parse_variants("completion+temp:0")[0]
    outs = gen.generate([PROMPTS[1].messages], v, GenParams(max_new_tokens=2).for_variant(v), 0)
    # two tokens cannot finish two sentences: the limit cut it
    assert outs[0].truncated and outs[0].finish_reason == "length"
