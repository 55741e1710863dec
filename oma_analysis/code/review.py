"""Code review tasks for Label Studio: the rubric's review form plus the completion's code with
syntax highlighting, its executed test results and, when one exists, an output of the same model
for the same problem that passed (blinded: no model, variant or temperature is shown).

The form keeps every question name of the review form (``render_review``), so the loader, the
capable + distinguishable rule and the rates read code reviews unchanged; labellers judge what
tests cannot (readability, design: ``code_hard_to_read``). The highlighted view is a read-only
HyperText; evidence spans are still marked on the plain completion text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

import pandas as pd

from oma_analysis import OmaError
from oma_analysis.code.humaneval import Problem, program
from oma_analysis.generate.records import Completion
from oma_analysis.rubric import RUBRIC, Rubric
from oma_analysis.tasks.blinding import CodeMap

_ANCHOR = '  <Header value="Completion (model hidden)"/>'


def render_code_review(r: Rubric = RUBRIC) -> str:
    """The review form with the highlighted code and test results above the completion."""
    from oma_analysis.rubric.xml import render_review

    xml = render_review(r)
    if _ANCHOR not in xml:
        raise OmaError("review.xml layout changed: no completion header to put the code view above")
    view = ['  <Header value="Code (syntax highlighted) and its test results"/>',
            '  <View className="oma-box">',
            '    <HyperText name="code_view" value="$code_html" inline="true"/>',
            "  </View>"]
    return xml.replace(_ANCHOR, "\n".join(view) + "\n" + _ANCHOR.replace(
        "Completion (model hidden)", "Completion as text (model hidden; highlight evidence here)"), 1)


def highlight(code: str) -> str:
    """Python source as HTML with inline styles (no stylesheet needed inside Label Studio)."""
    from pygments import highlight as _hl
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return _hl(code, PythonLexer(), HtmlFormatter(noclasses=True, nowrap=False))


def code_html(problem: Problem, text: str, result: Mapping, passing: str | None) -> str:
    """The code view: the completion's program, the test outcome, the passing output if any."""
    tests = "passed" if result["code.tests"] else f"failed ({html.escape(str(result.get('reason') or ''))})"
    ex = result.get("examples_n")
    parts = [highlight(program(problem, text)[len(problem.prompt):] or text),
             f"<p><b>Tests:</b> {tests}. <b>Parses:</b> {'yes' if result['code.syntax'] else 'no'}. "
             f"<b>Keeps the signature:</b> {'yes' if result['code.signature'] else 'no'}."
             + (f" <b>Docstring examples:</b> {result.get('examples_k') or 0} of {ex} right." if ex else "")
             + "</p>"]
    if passing is not None:
        parts += ["<p><b>Another output of the same model for this problem passed the tests:</b></p>",
                  highlight(passing)]
    return "\n".join(parts)


def code_review_tasks(completions: Iterable[Completion], results: pd.DataFrame, problems: Mapping[str, Problem],
                      deployed_only: Mapping[str, object] | None, codes: CodeMap) -> list[dict]:
    """LS tasks (``data``: messages, completion, completion_code, prompt_id, code_html) for the
    completions (only the deployed setting's when ``deployed_only`` maps model -> setting); model
    and variant go to ``codes``. ``results`` is :func:`oma_analysis.code.humaneval.evaluate`'s frame."""
    from oma_analysis.labelstudio.push import completion_to_task
    from oma_analysis.stats.auto import is_deployed

    by_key = results.set_index("key")
    cs = list(completions)
    if deployed_only is not None:
        dep = set(results.loc[is_deployed(results, deployed_only), "key"])
        review = [c for c in cs if c.key in dep]
    else:
        review = cs
    tasks = []
    for c in review:
        if c.key not in by_key.index:
            raise OmaError(f"completion {c.key}: field 'key': no sandbox result for it")
        r = by_key.loc[c.key]
        p = problems[c.prompt_id]
        passing = next((o.text for o in cs if o.model == c.model and o.prompt_id == c.prompt_id and o.key != c.key
                        and bool(by_key.loc[o.key, "code.tests"])), None)
        rec = {"prompt_id": c.prompt_id, "messages": c.messages, "completion": c.text, "model": c.model,
               "variant": c.variant, "key": c.key}
        task = completion_to_task(rec, codes, f"completion {c.key}")
        task["data"]["code_html"] = code_html(p, c.text, r, None if r["code.tests"] else passing)
        tasks.append(task)
    return tasks
