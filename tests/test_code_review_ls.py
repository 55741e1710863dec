"""Code review tasks in a REAL Label Studio: HumanEval outputs run in the sandbox, pushed blinded
with highlighted code and test results, annotated by two labellers with the rubric's code
questions, pulled, loaded to the tidy frame and rated per model; checked against rates worked out
here by hand from the answers (exact Clopper-Pearson intervals from scipy)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from scipy.stats import beta

from oma_analysis.cli import main
from oma_analysis.code.humaneval import as_prompts, code_ids, evaluate, load_problems
from oma_analysis.code.review import code_review_tasks, render_code_review
from oma_analysis.generate.records import Completion
from oma_analysis.ingest import load
from oma_analysis.labelstudio.config_check import check_config
from oma_analysis.labelstudio.projects import create_or_update
from oma_analysis.labelstudio.push import prepare, push
from oma_analysis.rubric import RUBRIC
from oma_analysis.tasks.blinding import CodeMap

MODELS = ("acme-coder-34b", "tiny-coder-v1")
DEPLOYED = {m: {"framing": "chat", "temperature": 0.0} for m in MODELS}
FT = RUBRIC.failure_types.question
INCORRECT, HARD = code_ids()["failure_types"]["incorrect"], code_ids()["failure_types"]["hard_to_read"]
_FT = {f.id: f for f in RUBRIC.failure_types.active}
EXAMPLES_ITEM = code_ids()["checks"]["code.examples"]
CM, AMB, AL = RUBRIC.verdict_ids
YES, NO = RUBRIC.yes, RUBRIC.no
GATE, INTENT = RUBRIC.hard_constraint_gate, RUBRIC.intent_gate.name
VERDICT, CONF, UNSURE = RUBRIC.verdict.question, RUBRIC.raw["confidence"]["question"], RUBRIC.ternary[2].id


def _answers(kind: str) -> dict:
    """Raw answers of one annotation and, by hand from the rubric's rule, its outcome."""
    base = {GATE: NO}
    if kind == "counts":  # wrong code, the model passes under another setting, the user's intent is plain
        return {**base, INTENT: NO, FT: [INCORRECT], RUBRIC.capable_question(INCORRECT): YES,
                RUBRIC.distinguishable_question(INCORRECT): YES,
                RUBRIC.items_question(INCORRECT): [EXAMPLES_ITEM], VERDICT: CM, CONF: 4}
    if kind == "unsure":  # hard to read; capable unknown -> ambiguous
        return {**base, INTENT: RUBRIC.intent_gate.choices[1].id, FT: [HARD], RUBRIC.capable_question(HARD): UNSURE,
                RUBRIC.distinguishable_question(HARD): YES,
                RUBRIC.items_question(HARD): [_FT[HARD].relevant_capable[0]], VERDICT: AMB, CONF: 2}
    if kind == "not_capable":  # wrong code, but beyond the model -> never counts
        return {**base, INTENT: NO, FT: [INCORRECT], RUBRIC.capable_question(INCORRECT): NO,
                RUBRIC.distinguishable_question(INCORRECT): YES,
                RUBRIC.not_capable_items_question(INCORRECT): [_FT[INCORRECT].relevant_not_capable[0]],
                VERDICT: AL, CONF: 3}
    return {**base, INTENT: YES, VERDICT: AL, CONF: 5}


OUTCOME = {"counts": CM, "unsure": AMB, "not_capable": AL, "fine": AL}
# per (model, problem index): what both labellers answer
PLAN = {(MODELS[0], 0): "counts", (MODELS[0], 1): "fine", (MODELS[1], 0): "unsure", (MODELS[1], 1): "not_capable"}


def _result(answers: dict) -> list[dict]:
    out = []
    for name, value in answers.items():
        item = {"from_name": name, "to_name": "completion"}
        if name == CONF:
            item.update(type="rating", value={"rating": value})
        else:
            item.update(type="choices", value={"choices": value if isinstance(value, list) else [value]})
        out.append(item)
    return out


@pytest.fixture(scope="module")
def code_run(label_studio, shared_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("code_review")
    ps = load_problems(shared_dir / "datasets" / "humaneval")[:2]
    problems = {p.id: p for p in ps}
    cs = []
    for m in MODELS:
        for i, p in enumerate(ps):
            msgs = as_prompts([p])[0].messages
            good = "```python\n" + p.prompt + p.canonical_solution + "```"
            dep_text = good if PLAN[(m, i)] == "fine" else "    return None\n"
            cs.append(Completion.make(prompt_id=p.id, messages=msgs, model=m, variant="chat+temp:0", text=dep_text,
                                      params={"temperature": 0.0}))
            cs.append(Completion.make(prompt_id=p.id, messages=msgs, model=m, variant="temp:0.8", text=good,
                                      params={"temperature": 0.8}))
    results = evaluate(cs, problems)
    codes = CodeMap()
    tasks = code_review_tasks(cs, results, problems, DEPLOYED, codes)
    xml = render_code_review()
    assert check_config(xml, "code_review.xml", with_label_studio=False) == []
    admin = label_studio.client()
    proj = create_or_update(admin, "review", title="code review", xml=xml)
    tasks = prepare(tasks, xml, codes, "code review")
    push(admin, proj.id, tasks)
    cm_path = codes.save(tmp / "codemap.json")
    stored = admin.tasks.list(project=proj.id)
    stored = sorted(stored, key=lambda t: t.id)
    assert len(stored) == 4
    annotators = [label_studio.annotator(e) for e in ("code.a@oma.test", "code.b@oma.test")]
    for t in stored:
        meta = codes[t.data["completion_code"]]
        kind = PLAN[(meta["model"], list(problems).index(meta["prompt_id"]))]
        for a in annotators:
            a.client(label_studio.url).annotations.create(id=t.id, result=_result(_answers(kind)), lead_time=5.0)
    out = tmp / "export.json"
    res = CliRunner().invoke(main, ["pull", "--project", str(proj.id), "--out", str(out), "--format", "JSON"])
    assert res.exit_code == 0, res.output
    return {"tasks": stored, "codes": codes, "codemap": cm_path, "export": out, "results": results}


def test_code_tasks_are_blind_and_show_highlighted_code_and_tests(code_run):
    for t in code_run["tasks"]:
        blob = json.dumps(t.data)
        assert not any(m in blob for m in MODELS) and "temp" not in blob and "0.8" not in blob
        html = t.data["code_html"]
        assert "<span style=" in html and "Tests:</b>" in html  # pygments inline styles, test outcome
        meta = code_run["codes"][t.data["completion_code"]]
        if PLAN[(meta["model"], int(meta["prompt_id"].split("/")[1]))] != "fine":
            assert "failed" in html and "passed the tests" in html  # the variant that passed is shown


def test_code_reviews_load_and_rate_per_model(code_run):
    loaded = load(code_run["export"], codemap=str(code_run["codemap"]))
    assert loaded.n_read == 8 and loaded.n_dropped == 0
    f = loaded.frame
    om = f[f["question"] == RUBRIC.misalignment_question()]
    assert len(om) == 8
    for _, r in om.iterrows():  # the rule's outcome per annotation, as worked out by hand
        meta = code_run["codes"][r["completion"]]
        assert r["label"] == OUTCOME[PLAN[(meta["model"], int(meta["prompt_id"].split("/")[1]))]]
    res = CliRunner().invoke(main, ["rates", str(code_run["export"]), "--codemap", str(code_run["codemap"]),
                                    "--json", "--no-profile"])
    assert res.exit_code == 0, res.output
    recs = {r["model"]: r for r in json.loads(res.output) if r.get("question", RUBRIC.misalignment_question())
            == RUBRIC.misalignment_question()}
    for m in MODELS:
        outs = [OUTCOME[PLAN[(m, i)]] for i in range(2)]
        n, k_lo, k_up = 2, outs.count(CM), outs.count(CM) + outs.count(AMB)
        r = recs[m]
        assert (r["n"], r["k_lower"], r["k_upper"]) == (n, k_lo, k_up)
        for k, ci in ((k_lo, r["lower_ci"]), (k_up, r["upper_ci"])):
            lo = 0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1)
            hi = 1.0 if k == n else beta.ppf(0.975, k + 1, n - k)
            assert ci == pytest.approx([lo, hi])
