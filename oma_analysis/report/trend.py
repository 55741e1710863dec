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


def _pct(x: tuple | list | None) -> str:
    return "-" if x is None else f"{x[0]:.1%} [{x[1]:.1%}, {x[2]:.1%}]"


def _size(pm: float | None) -> str:
    return "?" if not pm else f"{pm / 1000:g}B" if pm >= 1000 else f"{pm:g}M"


NOTES = [f"{LOWER_DEF}.", f"{UPPER_DEF.format(min_rate=0.5)}.", f"{CI_DEF}.",
         "raw failure rate: failed / evaluable (prompt, check) results on the deployed setting "
         "(IFEval-style: counts failures whether or not the model could do better).",
         "The demo's simulated labellers answer real completions from these same checks: their agreement "
         "with this metric is by construction and is not evidence."]


def sort_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["params_m"] or 0, r["regime"], r["model"]))


def display_rows(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The table as shown (markdown and HTML alike): sorted by size, then regime."""
    return [{"model": r["model"], "size": _size(r["params_m"]), "base/instruct": r["kind"], "regime": r["regime"],
             "raw failure rate [95% CI]": f"{_pct((r['raw_failure_rate'], *r['raw_ci']))} (n={r['n_checks']})",
             "lower bound": _pct(r["lower"]), "upper bound": _pct(r["upper"]), "source": r["source"]}
            for r in sort_rows(rows)]


def write_trend(rows: list[dict[str, Any]], out_dir: Path) -> Path:
    """trend.csv and trend.md (sorted by size, then regime), definitions beside the numbers."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(sort_rows(rows)).to_csv(out_dir / "trend.csv", index=False)
    shown = display_rows(rows)
    cols = list(shown[0]) if shown else []
    lines = ["## Trend across models (automatic metric)", "", "| " + " | ".join(cols) + " |",
             "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r.values()) + " |" for r in shown]
    lines += ["", *(f"- {n}" for n in NOTES)]
    p = out_dir / "trend.md"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def render_html(rows: list[dict[str, Any]] | None, table: Callable[[list[dict]], str]) -> str:
    """The report's trend section (report.json ``trend``: the rows of :func:`real_rows` and
    :func:`published_rows`); empty when the run had no real models."""
    if not rows:
        return ""
    import html

    return ("<h2>Trend across models (automatic metric)</h2><p>Real local models generated here and the "
            "GPT-3 family's published outputs, size and regime from model metadata. No humans: every number "
            "here is real (automatic checks on real outputs), none is simulated.</p>"
            + table(display_rows(rows)) + "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in NOTES) + "</ul>")


def write_spec(work: Path, spec: dict[str, Any] | None = None) -> Path:
    """The demo's real-model run spec, written to ``work/real_models.yaml`` (run it with `oma run`)."""
    import yaml

    work.mkdir(parents=True, exist_ok=True)
    sp = work / "real_models.yaml"
    sp.write_text(yaml.safe_dump(spec or DEMO_SPEC, sort_keys=False), encoding="utf-8")
    return sp


def trend_rows(spec_path: Path, self_instruct: str | Path | None = None) -> list[dict[str, Any]]:
    """Rows of the real models (from the finished run's manifest) and of the GPT-3 family (from the
    shared data folder when it is there: the published rows are optional context)."""
    import json

    from oma_analysis import OmaError
    from oma_analysis.generate.run import load_spec
    from oma_analysis.prompts.importers import self_instruct_dir

    s = load_spec(spec_path)
    rows = real_rows(json.loads((s.out / "manifest.json").read_text(encoding="utf-8")), s.out)
    try:
        src = Path(self_instruct) if self_instruct else self_instruct_dir()
    except OmaError:
        src = None
    if src is not None and src.exists():
        rows += published_rows(src)
    return rows


def run_trend(work: Path, self_instruct: str | Path | None = None, echo: Callable[[str], None] = print,
              spec: dict[str, Any] | None = None) -> Path:
    """Run the demo's real-model spec (cached under ``$OMA_HOME/runs``) and write the trend section."""
    from oma_analysis.generate.run import execute, load_spec

    sp = write_spec(work, spec)
    execute(load_spec(sp), echo=echo)
    return write_trend(trend_rows(sp, self_instruct), work)
