"""oma config generate|check: the Label Studio configs, generated from the rubric and validated."""

from __future__ import annotations

import sys

import click


def register(group: click.Group) -> None:
    group.add_command(config)


@click.group()
def config() -> None:
    """Generate and validate Label Studio configs."""


@config.command()
@click.option("--out", "out_dir", default="labelstudio_config", show_default=True,
              type=click.Path(file_okay=False), help="Directory for review.xml, compare.xml, probe.xml.")
@click.option("--usage-policy", "policy_file", type=click.Path(exists=True, dir_okay=False),
              help="The run's usage policy (first line 'version: X'); default: the one oma ships.")
def generate(out_dir: str, policy_file: str | None) -> None:
    """Write the configs from the rubric (the only way they should change)."""
    from oma_analysis.rubric.xml import load_policy, write_all

    for p in write_all(out_dir, policy=load_policy(policy_file) if policy_file else None):
        click.echo(str(p))


@config.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--no-label-studio", is_flag=True, help="Skip Label Studio's own (Django) validator.")
def check(files: tuple[str, ...], no_label_studio: bool) -> None:
    """Validate configs with LabelInterface and Label Studio's validator; exit 1 naming the tag."""
    from oma_analysis.labelstudio.config_check import check_files

    problems = check_files(list(files), with_label_studio=not no_label_studio)
    for p in problems:
        click.echo(f"INVALID {p}", err=True)
    bad = {p.source for p in problems}
    for f in files:
        if f not in bad:
            click.echo(f"ok {f}")
    sys.exit(1 if problems else 0)
