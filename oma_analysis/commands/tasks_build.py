"""oma tasks build: completions -> blinded review/compare tasks + code map + manifest.

Adds ``build`` to the ``tasks`` group of ``commands/tasks.py`` (which sorts before this module);
creates the group if that module is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from oma_analysis import OmaError


def register(group: click.Group) -> None:
    tasks = group.commands.get("tasks")
    if not isinstance(tasks, click.Group):
        tasks = click.Group("tasks", help="Labelling tasks.")
        group.add_command(tasks)
    tasks.add_command(build)


def _read_models(path: str | None) -> dict | None:
    if not path:
        return None
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            meta = yaml.safe_load(fh)  # YAML is a superset of JSON: one reader for both
    except yaml.YAMLError as exc:
        raise OmaError(f"{path}: not valid JSON or YAML ({exc})") from None
    if not isinstance(meta, dict) or not all(isinstance(v, dict) for v in meta.values()):
        raise OmaError(f"{path}: expected {{model: {{...metadata...}}}}")
    return meta


SOURCES = ("completions", "self-instruct", "ifeval", "logs")


@click.command()
@click.argument("source", type=click.Path())
@click.option("--kind", type=click.Choice(["review", "compare"]), required=True)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Tasks JSONL ({\"data\": ...}).")
@click.option("--codemap", type=click.Path(dir_okay=False), required=True,
              help="Code -> model/variant map (kept outside Label Studio; extended if it exists).")
@click.option("--manifest", type=click.Path(dir_okay=False), help="Default: manifest.json beside --out.")
@click.option("--from", "from_", type=click.Choice(SOURCES), default="completions", show_default=True,
              help="What SOURCE is: a completions JSONL, or a data set imported on the fly.")
@click.option("--overlap", type=int, default=1, show_default=True, help="Labellers per task (for the project).")
@click.option("--gold", type=click.Path(dir_okay=False), help="Gold completions JSONL.")
@click.option("--gold-rate", type=float, default=0.0, show_default=True, help="Share of the batch that is gold.")
@click.option("--gold-in-data", is_flag=True, help="Also mark gold tasks with data.gold (visible in LS).")
@click.option("--pair-by", type=click.Choice(["deployed", "variant", "model"]), default="deployed", show_default=True,
              help="Compare: deployed = each model's deployed setting against its uninformative variants "
                   "(the elicitation gap); variant / model = all pairs differing in that.")
@click.option("--models", "models_file", type=click.Path(exists=True, dir_okay=False),
              help="Model metadata (JSON or YAML: {model: {type: chat|base, deployed: {variant | framing, "
                   "temperature}}}); goes only into the code map.")
@click.option("--swap-share", type=float, default=0.2, show_default=True,
              help="Compare (deployed): share of pairs also asked with sides swapped (position bias).")
@click.option("--variant-set", help="Compare (deployed): the run's variants, fixed in advance (comma-separated); "
                                    "others are left out. Default: every variant in SOURCE.")
@click.option("--baseline", help="Compare: pair every other variant (or model) with this one.")
@click.option("--seed", type=int, help="Shuffling / left-right seed (random and recorded if omitted).")
def build(source: str, kind: str, out: str, codemap: str, manifest: str | None, from_: str, overlap: int,
          gold: str | None, gold_rate: float, gold_in_data: bool, pair_by: str, models_file: str | None,
          swap_share: float, variant_set: str | None, baseline: str | None, seed: int | None) -> None:
    """Build Label Studio tasks from SOURCE (completion records or --from a data set)."""
    from oma_analysis.generate.records import read_completions
    from oma_analysis.prompts.importers import import_any
    from oma_analysis.tasks.blinding import CodeMap
    from oma_analysis.tasks.build import build as do_build

    if from_ == "completions":
        comps = read_completions(source)
    else:
        comps = import_any(from_, source).completions
    gold_recs = read_completions(gold) if gold else []
    if gold_rate and not gold:
        raise OmaError("--gold-rate: needs --gold FILE")
    cm_path = Path(codemap)
    codes = CodeMap.load(cm_path) if cm_path.exists() else CodeMap()
    b = do_build(comps, kind=kind, seed=seed, overlap=overlap, gold=gold_recs, gold_rate=gold_rate,
                 codes=codes, pair_by=pair_by, baseline=baseline, gold_in_data=gold_in_data,
                 source=f"{from_}:{source}", model_meta=_read_models(models_file), swap_share=swap_share,
                 variant_set=[v.strip() for v in variant_set.split(",") if v.strip()] if variant_set else None)
    with open(out, "w", encoding="utf-8") as fh:
        for t in b.tasks:
            fh.write(json.dumps(t, ensure_ascii=False) + "\n")
    codes.save(cm_path)
    man_path = Path(manifest) if manifest else Path(out).resolve().parent / "manifest.json"
    b.manifest.update(tasks_file=str(out), codemap_file=str(cm_path), gold_file=gold)
    man_path.write_text(json.dumps(b.manifest, indent=1) + "\n", encoding="utf-8")
    for w in b.warnings[:20]:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"{len(b.tasks)} {kind} tasks -> {out}; code map {cm_path}; manifest {man_path}", err=True)
