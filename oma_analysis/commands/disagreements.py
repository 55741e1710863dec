"""``oma disagreements``: the tasks and questions labellers disagree on most."""

from __future__ import annotations

import json

import click


def register(group: click.Group) -> None:
    @group.command("disagreements")
    @click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False))
    @click.option("--top", type=click.IntRange(min=1), default=20, show_default=True)
    @click.option("--question", "questions", multiple=True, help="Limit to these questions (repeatable).")
    @click.option("--gold", type=click.Path(exists=True, dir_okay=False),
                  help="Researcher labels CSV task,label[,question].")
    @click.option("--codemap", type=click.Path(exists=True, dir_okay=False))
    @click.option("--json", "as_json", is_flag=True)
    def disagreements_cmd(input_path, top, questions, gold, codemap, as_json):
        """List the TOP task x question pairs with the most disagreement."""
        from ..disagreements import disagreements
        from ..inputs import load

        loaded = load(input_path, codemap)
        t = disagreements(loaded.frame, top, list(questions) or None, gold)
        recs = json.loads(t.to_json(orient="records"))
        if as_json:
            click.echo(json.dumps(recs))
            return
        for r in recs:
            gd = "" if r["gold_disagreement"] is None else f"\tvs gold {r['gold_disagreement']:.2f}"
            click.echo(f"{r['task']}\t{r['question']}\tH={r['entropy']:.3f}\tminority={r['minority_share']:.2f}"
                       f"\t{r['labels']}{gd}")
