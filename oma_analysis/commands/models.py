"""oma models: the models available offline, with the metadata that goes into the code map."""

from __future__ import annotations

import json

import click


def register(group: click.Group) -> None:
    group.add_command(models)


@click.command()
@click.argument("extra", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model.")
def models(extra: tuple[str, ...], as_json: bool) -> None:
    """List packaged local models, endpoints from $OMA_HOME/models.yaml and any EXTRA specs
    (hf:PATH, gguf:FILE): size, base/instruct, regime and deployed setting (framing, temperature)."""
    from oma_analysis.generate.models import deployed_variant, list_models

    for m in list_models(list(extra)):
        if as_json:
            click.echo(json.dumps({**m.to_dict(), "deployed_variant": deployed_variant(m)}))
            continue
        size = f"{m.params_m:g}M" if m.params_m else "?"
        state = "available" if m.available else "NOT INSTALLED"
        click.echo(f"{m.spec:32} {size:>6} {m.kind:9} {m.regime:11} deployed={deployed_variant(m):18} "
                   f"{m.licence or '-':20} {state}")
