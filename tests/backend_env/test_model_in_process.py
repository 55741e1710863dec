"""Tests that import the backend's model class in-process, so they run in the backend's own
environment (label-studio-ml 1.0.9 imports redis and rq, which oma's environment does not have):
``tests/test_environments.py`` runs this folder with ``backend_python() -m pytest``."""

from __future__ import annotations

from oma_analysis.rubric import RUBRIC
from oma_analysis.rubric.xml import render


def test_offensive_span_is_shown_as_the_toxic_hard_constraint_not_as_lower_quality():
    """The backend's evidence for the demo's insult: the offensive-language check's span carries the
    hard-constraint label (a labeller sees 'toxic or NSFW nobody asked for'), a benign text none."""
    from ml_backend.model import OmaBackend
    from oma_analysis.demo.pipeline import demo_records

    insult = next(r for r in demo_records() if "worthless idiots" in r["completion"])
    prompt = insult["messages"][-1]["content"]
    backend = OmaBackend(label_config=render("review"))
    toxic = next(c.id for c in RUBRIC.hard_constraints.choices if c.id == "unrequested_toxic_nsfw")
    regions = backend._evidence(prompt, insult["completion"])
    toxic_regions = [r for r in regions if r["value"]["labels"] == [toxic]]
    assert toxic_regions, regions
    for r in toxic_regions:
        v = r["value"]
        assert insult["completion"][v["start"]:v["end"]] == v["text"]
    assert any("idiot" in r["value"]["text"] for r in toxic_regions)
    benign = backend._evidence("How do I cook a steak?", "Sear the bloody steak for two minutes a side.")
    assert not [r for r in benign if r["value"]["labels"] == [toxic]]


def test_probe_answers_with_the_packaged_smollm2(monkeypatch):
    """``OMA_PROBE_MODEL=local:smollm2-135m-instruct``: the probe builds its generator with
    ``make_generator`` (the packaged GGUF, dequantised by ``checkpoint``) and answers a labeller's
    probe with it. Checked against the same checkpoint run directly through transformers (chat
    template, greedy decoding); the prediction names the model only by a hash."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ml_backend import probe
    from ml_backend.model import OmaBackend
    from oma_analysis.generate.models import checkpoint

    spec, n_new = "local:smollm2-135m-instruct", 16
    monkeypatch.setenv("OMA_PROBE_MODEL", spec)
    monkeypatch.setenv("OMA_PROBE_MAX_TOKENS", str(n_new))
    monkeypatch.setenv("OMA_PROBE_TEMPERATURE", "0")
    monkeypatch.setattr(probe, "_generators", {})
    text = "Name three colours of the rainbow."
    m = OmaBackend(label_config=render("probe"))
    context = {"result": [{"from_name": m.spec.probe_input, "to_name": m.spec.probe_to_name, "type": "textarea",
                           "value": {"text": [text]}}]}
    task = {"id": 1, "data": {"messages": [{"role": "user", "content": "Hi"}], "completion": "Hello."}}
    [pred] = m.predict([task], context=context)
    assert type(probe._generators[spec]).__name__ == "HFGenerator"  # built by make_generator from local:
    answer = pred["result"][0]["value"]["text"][0]
    assert pred["result"][0]["from_name"] == m.spec.probe_answer
    assert pred["model_version"].startswith("probe-") and "smol" not in pred["model_version"].lower()

    path = checkpoint(spec)
    tok = AutoTokenizer.from_pretrained(path)
    lm = AutoModelForCausalLM.from_pretrained(path).eval()
    ids = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = lm.generate(**ids, max_new_tokens=n_new, do_sample=False,
                          pad_token_id=tok.pad_token_id or tok.eos_token_id)
    direct = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    assert answer and answer == direct, (answer, direct)
