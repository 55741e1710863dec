"""oma run: one run spec (YAML) -> prompts, completions, checks, automatic metric, tasks, manifest."""

from __future__ import annotations

from pathlib import Path

import click


def register(group: click.Group) -> None:
    group.add_command(run)


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--check", "check_only", is_flag=True, help="Validate the spec and stop (no work).")
@click.option("--progress/--no-progress", default=False, show_default=True)
def run(spec: Path, check_only: bool, progress: bool) -> None:
    """Run SPEC. It is validated first: a missing model, an unknown prompt source or a bad variant
    exits 2 naming the field before anything is generated. Rerunning resumes (the run folder's
    completions are the cache); the same spec and seed reproduce prompts, greedy completions and task keys."""
    from oma_analysis.generate.run import execute, load_spec

    s = load_spec(spec)
    if check_only:
        click.echo(f"{spec}: ok ({len(s.models)} models -> {s.out})")
        return
    m = execute(s, echo=lambda x: click.echo(x, err=True), progress=progress)
    for r in m["auto"]:
        click.echo(f"{r['model']}: automatic lower bound {r['lower_k']}/{r['n']} = {r['lower_rate']:.1%} "
                   f"[{r['lower_ci_low']:.1%}, {r['lower_ci_high']:.1%}], upper {r['upper_rate']:.1%} "
                   f"[{r['upper_ci_low']:.1%}, {r['upper_ci_high']:.1%}] (real: automatic checks)")
    click.echo(f"manifest: {s.out / 'manifest.json'} ({m['wall_s']:.0f}s)")
