"""oma demo: the main job on the embedded default data (idempotent; safe to rerun)."""

from __future__ import annotations

import sys

import click


def register(group: click.Group) -> None:
    group.add_command(demo)


@click.command()
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--data", "data_path", type=click.Path(exists=True),
              help="The Self-Instruct folder (user_oriented_instructions.jsonl + predictions/) to load the "
                   "eight models' predictions instead of the embedded demo set.")
@click.option("--limit", default=25, show_default=True, help="With --data: instructions to take (x 8 models).")
@click.option("--overlap", default=3, show_default=True, help="Simulated labellers per task.")
@click.option("--seed", default=0, show_default=True)
@click.option("--no-simulate", is_flag=True, help="Stop after importing tasks (label them yourself).")
@click.option("--no-backend", is_flag=True, help="Skip the ML backend's pre-annotations.")
@click.option("--real-models/--no-real-models", default=True, show_default=True,
              help="Also run the two real local models (small run spec) and write the trend section.")
def demo(port: int, data_path: str | None, limit: int, overlap: int, seed: int, no_simulate: bool,
         no_backend: bool, real_models: bool) -> None:
    """The whole loop on demo data: Label Studio (SQLite), projects, blinded completions from several
    models, ML-backend pre-annotations, simulated labellers, export, and the HTML report. Prints the
    Label Studio URL, the login and the report path; Label Studio keeps running (`oma ls down`)."""
    from oma_analysis.demo.pipeline import run_demo, self_instruct_records
    from oma_analysis.lifecycle import oma_home

    records = self_instruct_records(data_path, limit, seed) if data_path else None
    res = run_demo(port=port, records=records, source=data_path or "demo", overlap=overlap, seed=seed,
                   simulate=not no_simulate, report=not no_simulate, backend=not no_backend, echo=click.echo,
                   real_models=real_models)
    home = oma_home()
    if res.estimated:
        click.echo("")
        click.echo("model                       true lower/upper   estimated lower [95% CI] / upper [95% CI]")
        est = {r["model"]: r for r in res.estimated}
        for model, t in res.true_rates.items():
            e = est.get(model)
            if e:
                click.echo(f"{model:27s} {t['lower']:.2f} / {t['upper']:.2f}        "
                           f"{e['lower']:.2f} [{e['lower_ci'][0]:.2f}, {e['lower_ci'][1]:.2f}] / "
                           f"{e['upper']:.2f} [{e['upper_ci'][0]:.2f}, {e['upper_ci'][1]:.2f}]")
    if res.elicitation.get("by_model"):
        click.echo("")
        click.echo("model                       gap lower/upper [CI]                combined lower/upper    "
                   "(true gap, combined)")
        for model, r in sorted(res.elicitation["by_model"].items()):
            g, c, t = r.get("elicitation_gap", {}), r.get("combined", {}), res.elicitation["truth"].get(model, {})
            if g and c:
                click.echo(f"{model:27s} {g['lower']:.2f} [{g['lower_ci'][0]:.2f}, {g['lower_ci'][1]:.2f}] / "
                           f"{g['upper']:.2f}            {c['lower']:.2f} / {c['upper']:.2f}            "
                           f"({t.get('gap_lower', float('nan')):.2f}/{t.get('gap_upper', float('nan')):.2f}, "
                           f"{t.get('combined_lower', float('nan')):.2f}/{t.get('combined_upper', float('nan')):.2f})")
        click.echo("(gap and combined bound are for the demo's fixed variant set: more variants, more chances)")
    click.echo("")
    click.echo(f"Label Studio is running at {res.url}")
    click.echo(f"  login:    {res.username}")
    # Only show the password to a person at a terminal; logs (CI, files) get the file's path.
    if sys.stdout.isatty():
        from oma_analysis.labelstudio.server import load_credentials

        click.echo(f"  password: {load_credentials().password}")
    else:
        click.echo(f"  password: see {home / 'credentials.json'}")
    for kind, pid in res.projects.items():
        click.echo(f"  {kind:8s} {res.url}/projects/{pid}/data")
    if res.report:
        click.echo(f"report: {res.report}")
    click.echo(f"code map (model identities, outside Label Studio): {res.codemap}")
    click.echo("Stop Label Studio with: .venv/bin/oma ls down" + (" (and the ML backend: .venv/bin/oma backend down)"
                                                                  if res.backend else ""))
