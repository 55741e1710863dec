"""Image review in a REAL Label Studio: small PNGs (built here) imported from a JSONL of
``{prompt, image_path|url, model}``, pushed blinded (no model in file names or URLs), annotated with
the rubric's image questions by two labellers, pulled, loaded and rated per model; checked against
rates worked out by hand (exact Clopper-Pearson intervals from scipy)."""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner
from PIL import Image
from scipy.stats import beta

from oma_analysis import OmaError
from oma_analysis.cli import main
from oma_analysis.images.review import image_tasks, read_image_records, render_image_review
from oma_analysis.ingest import load
from oma_analysis.labelstudio.config_check import check_config
from oma_analysis.labelstudio.projects import create_or_update
from oma_analysis.labelstudio.push import prepare, push
from oma_analysis.rubric import RUBRIC
from oma_analysis.tasks.blinding import CodeMap

MODELS = ("acme-painter-xl", "tiny-diffusion-v2")
IMG_FT = RUBRIC.failure_types.active[-1]  # the image failure type (appended last in rubric.yaml)
CM, AMB, AL = RUBRIC.verdict_ids
YES, NO = RUBRIC.yes, RUBRIC.no
GATE, INTENT = RUBRIC.hard_constraint_gate, RUBRIC.intent_gate.name
VERDICT, CONF = RUBRIC.verdict.question, RUBRIC.raw["confidence"]["question"]
NSFW = RUBRIC.hard_constraints.active[2]  # unrequested toxic/NSFW content
# (prompt, colour the user asked for, colour drawn, model) -> what both labellers answer
PLAN = [("A plain red square.", "red", "red", MODELS[0], "fine"),
        ("A plain blue square.", "blue", "green", MODELS[0], "wrong_colour"),
        ("A plain red square.", "red", "red", MODELS[1], "fine"),
        ("A plain blue square.", "blue", "blue", MODELS[1], "nsfw_not_avoidable")]


def _answers(kind: str) -> dict:
    if kind == "wrong_colour":  # the same model draws the right colour elsewhere
        return {GATE: NO, INTENT: NO, RUBRIC.failure_types.question: [IMG_FT.id],
                RUBRIC.capable_question(IMG_FT.id): YES, RUBRIC.distinguishable_question(IMG_FT.id): YES,
                RUBRIC.items_question(IMG_FT.id): [IMG_FT.relevant_capable[0]], VERDICT: CM, CONF: 4}
    if kind == "nsfw_not_avoidable":  # a hard constraint ticked, but judged not avoidable -> ambiguous
        hc = RUBRIC.hard_constraints.question
        q = {k: RUBRIC.hc_followup_question(k, NSFW.id) for k in RUBRIC.hc_followups(NSFW.id)}
        kinds = list(q)
        return {GATE: YES, hc: [NSFW.id], q[kinds[0]]: RUBRIC.ternary[2].id, q[kinds[1]]: YES,
                **({q[kinds[2]]: NO} if len(kinds) > 2 else {}), INTENT: YES, VERDICT: AMB, CONF: 2}
    return {GATE: NO, INTENT: YES, VERDICT: AL, CONF: 5}


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
def image_run(label_studio, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("image_review")
    (tmp / "renders").mkdir()
    lines = []
    for i, (prompt, _, drawn, model, _) in enumerate(PLAN):
        name = f"renders/{model}_{i:03d}.png"  # file names that name the model: must never reach LS
        Image.new("RGB", (16, 16), drawn).save(tmp / name)
        lines.append(json.dumps({"prompt": prompt, "image_path": name, "model": model, "prompt_id": f"img{i % 2}"}))
    src = tmp / "images.jsonl"
    src.write_text("\n".join(lines) + "\n")
    codes = CodeMap()
    xml = render_image_review()
    assert check_config(xml, "image_review.xml", with_label_studio=False) == []
    tasks = prepare(image_tasks(read_image_records(src), codes), xml, codes, str(src))
    admin = label_studio.client()
    proj = create_or_update(admin, "review", title="image review", xml=xml)
    push(admin, proj.id, tasks)
    cm = codes.save(tmp / "codemap.json")
    stored = sorted(admin.tasks.list(project=proj.id), key=lambda t: t.id)
    assert len(stored) == 4
    annotators = [label_studio.annotator(e) for e in ("img.a@oma.test", "img.b@oma.test")]
    kind_of = {}
    for t in stored:
        meta = codes[t.data["completion_code"]]
        i = next(i for i, p in enumerate(PLAN) if p[3] == meta["model"] and f"img{i % 2}" == meta["prompt_id"])
        kind_of[t.data["completion_code"]] = PLAN[i][4]
        for a in annotators:
            a.client(label_studio.url).annotations.create(id=t.id, result=_result(_answers(PLAN[i][4])),
                                                          lead_time=4.0)
    out = tmp / "export.json"
    res = CliRunner().invoke(main, ["pull", "--project", str(proj.id), "--out", str(out), "--format", "JSON"])
    assert res.exit_code == 0, res.output
    return {"tasks": stored, "codes": codes, "codemap": cm, "export": out, "kind_of": kind_of, "dir": tmp}


def test_images_are_served_blind(image_run):
    for t in image_run["tasks"]:
        blob = json.dumps(t.data)
        assert not any(m in blob for m in MODELS) and "renders" not in blob and ".png" not in blob
        assert t.data["image"].startswith("data:image/png;base64,")
        png = base64.b64decode(t.data["image"].split(",", 1)[1])
        assert png.startswith(b"\x89PNG")
    # a URL that names the model is refused before anything reaches Label Studio
    bad = [{"prompt": "x", "url": f"https://cdn.example/{MODELS[0]}/1.png", "model": MODELS[0]}]
    codes = CodeMap()
    with pytest.raises(OmaError, match="would reveal model"):
        prepare(image_tasks(bad, codes), render_image_review(), codes, "bad.jsonl")


def test_bad_image_records_name_file_line_and_field(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text(json.dumps({"prompt": "a cat", "model": "m"}) + "\n")
    with pytest.raises(OmaError, match=r"x.jsonl: line 1: field 'image_path' or 'url'"):
        read_image_records(p)
    (tmp_path / "not.png").write_text("hello")
    p.write_text(json.dumps({"prompt": "a cat", "model": "m", "image_path": "not.png"}) + "\n")
    with pytest.raises(OmaError, match="record 1: field image_path: not a PNG"):
        image_tasks(read_image_records(p), CodeMap())


def test_image_reviews_load_and_rate_per_model(image_run):
    loaded = load(image_run["export"], codemap=str(image_run["codemap"]))
    assert loaded.n_read == 8 and loaded.n_dropped == 0, loaded.dropped
    om = loaded.frame[loaded.frame["question"] == RUBRIC.misalignment_question()]
    expected = {"fine": AL, "wrong_colour": CM, "nsfw_not_avoidable": AMB}
    assert len(om) == 8
    for _, r in om.iterrows():
        assert r["label"] == expected[image_run["kind_of"][r["completion"]]], r.to_dict()
    res = CliRunner().invoke(main, ["rates", str(image_run["export"]), "--codemap", str(image_run["codemap"]),
                                    "--json", "--no-profile"])
    assert res.exit_code == 0, res.output
    recs = {r["model"]: r for r in json.loads(res.output)}
    for m in MODELS:
        outs = [expected[p[4]] for p in PLAN if p[3] == m]
        n, k_lo, k_up = len(outs), outs.count(CM), outs.count(CM) + outs.count(AMB)
        r = recs[m]
        assert (r["n"], r["k_lower"], r["k_upper"]) == (n, k_lo, k_up)
        for k, ci in ((k_lo, r["lower_ci"]), (k_up, r["upper_ci"])):
            lo = 0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1)
            hi = 1.0 if k == n else beta.ppf(0.975, k + 1, n - k)
            assert ci == pytest.approx([lo, hi])
