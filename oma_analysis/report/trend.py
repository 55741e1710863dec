"""The trend section: the automatic metric across the real local models (run for real through a
small run spec) and the eight GPT-3-family models (their published Self-Instruct outputs), with
size and training regime from model metadata. Every number says where it comes from.

The GPT-3-family outputs come one per prompt with no uninformative variant, so only the raw
failure rate of the automatic checks can be computed for them (no capability conditioning); the
real local models get that same raw rate (comparable across all ten) and the capability-conditioned
bounds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from oma_analysis.stats.auto import CI_DEF, LOWER_DEF, UPPER_DEF, check_frame, clopper_pearson, summarise

REAL_SOURCE = "real: automatic checks on outputs generated here"
PUBLISHED_SOURCE = ("real: automatic checks on published outputs (one per prompt, no variant: raw failure rate, "
                    "not capability-conditioned)")

DEMO_SPEC: dict[str, Any] = {
    "name": "demo-real-models", "seed": 0,
    "models": ["local:smollm2-135m-instruct", "local:gemma3-270m"],
    "prompts": [{"core": {"n": 6}}, {"ifeval": {"n": 6}}],
    "variants": ["deployed", "chat+temp:0", "completion+temp:0"],
    "generation": {"max_new_tokens": 40, "batch_size": 6},
    "tasks": {"kinds": ["review"]},
}


def published_rows(path: str | Path, limit: int = 60) -> list[dict[str, Any]]:
    """Raw automatic failure rate per GPT-3-family model on the first ``limit`` Self-Instruct prompts."""
    from oma_analysis.generate.models import GPT3_FAMILY
    from oma_analysis.prompts.importers import import_self_instruct

    imp = import_self_instruct(path)
    keep = {p.id for p in imp.prompts[:limit]}
    frame = check_frame([c for c in imp.completions if c.prompt_id in keep], {p.id: p for p in imp.prompts})
    ev = frame[frame["passed"].notna()]
    rows = []
    for model, g in ev.groupby("model", sort=True):
        n, k = len(g), int((~g["passed"].astype(bool)).sum())
        lo, hi = clopper_pearson(k, n)
        m = GPT3_FAMILY.get(model)
        rows.append({"model": model, "params_m": m.params_m if m else None, "kind": m.kind if m else "?",
                     "regime": m.regime if m else "?", "n_checks": n, "raw_failure_rate": k / n,
                     "raw_ci": (lo, hi), "lower": None, "upper": None, "source": PUBLISHED_SOURCE})
    return rows


def real_rows(manifest: dict[str, Any], out: Path) -> list[dict[str, Any]]:
    from oma_analysis.generate.models import info

    frame = pd.read_csv(out / "checks.csv")
    frame["passed"] = frame["passed"].map({True: True, False: False, "True": True, "False": False})
    deployed = {m: d["deployed"] for m, d in manifest["models"].items()}
    rows = []
    for r in summarise(frame, deployed, manifest["spec"].get("auto", {}).get("min_rate", 0.5)).to_dict("records"):
        m = info(r["model"])
        rows.append({"model": r["model"], "params_m": m.params_m, "kind": m.kind, "regime": m.regime,
                     "n_checks": r["n"], "raw_failure_rate": r["failure_rate"],
                     "raw_ci": clopper_pearson(r["failures"], r["n"]),
                     "lower": (r["lower_rate"], r["lower_ci_low"], r["lower_ci_high"]),
                     "upper": (r["upper_rate"], r["upper_ci_low"], r["upper_ci_high"]), "source": REAL_SOURCE})
    return rows


def _pct(x: tuple | None) -> str:
    return "-" if x is None else f"{x[0]:.1%} [{x[1]:.1%}, {x[2]:.1%}]"


def write_trend(rows: list[dict[str, Any]], out_dir: Path) -> Path:
    """trend.csv and trend.md (sorted by size, then regime), definitions beside the numbers."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: (r["params_m"] or 0, r["regime"], r["model"]))
    pd.DataFrame(rows).to_csv(out_dir / "trend.csv", index=False)
    lines = ["## Trend across models (automatic metric)", "",
             "| model | size | base/instruct | regime | raw failure rate [95% CI] | lower bound | upper bound "
             "| source |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pm = r["params_m"]
        size = "?" if not pm else f"{pm / 1000:g}B" if pm >= 1000 else f"{pm:g}M"
        raw = (r["raw_failure_rate"], *r["raw_ci"])
        lines.append(f"| {r['model']} | {size} | {r['kind']} | {r['regime']} | {_pct(raw)} (n={r['n_checks']}) "
                     f"| {_pct(r['lower'])} | {_pct(r['upper'])} | {r['source']} |")
    lines += ["", f"- {LOWER_DEF}.", f"- {UPPER_DEF.format(min_rate=0.5)}.", f"- {CI_DEF}.",
              "- raw failure rate: failed / evaluable (prompt, check) results on the deployed setting "
              "(IFEval-style: counts failures whether or not the model could do better).",
              "- The demo's simulated labellers answer real completions from these same checks: their agreement "
              "with this metric is by construction and is not evidence."]
    p = out_dir / "trend.md"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def run_trend(work: Path, self_instruct: str | Path | None = None, echo: Callable[[str], None] = print,
              spec: dict[str, Any] | None = None) -> Path:
    """Run the demo's real-model spec (cached under ``$OMA_HOME/runs``) and write the trend section."""
    import yaml

    from oma_analysis import OmaError
    from oma_analysis.generate.run import execute, load_spec
    from oma_analysis.prompts.importers import self_instruct_dir

    work.mkdir(parents=True, exist_ok=True)
    sp = work / "real_models.yaml"
    sp.write_text(yaml.safe_dump(spec or DEMO_SPEC, sort_keys=False), encoding="utf-8")
    s = load_spec(sp)
    manifest = execute(s, echo=echo)
    rows = real_rows(manifest, s.out)
    try:
        src = Path(self_instruct) if self_instruct else self_instruct_dir()
    except OmaError as exc:  # the published rows are optional context: say why they are missing
        echo(f"trend: no published Self-Instruct rows ({exc})")
        src = None
    if src is not None and src.exists():
        rows += published_rows(src)
    return write_trend(rows, work)
