"""HumanEval (Chen et al. 2021) as code tasks with executed tests, and the code checks per completion.

Per completion four checks, each a unit of :mod:`oma_analysis.stats.auto` (so the automatic
capability-conditioned metric extends to code unchanged):

- ``code.syntax``: the program (prompt + completion) parses (``ast``, in this process: parsing runs
  nothing);
- ``code.signature``: it defines the entry point with the prompt's parameter names;
- ``code.examples``: the docstring's ``>>>`` examples give the shown values (not evaluable when the
  prompt has none; run in the sandbox);
- ``code.tests``: HumanEval's ``check(candidate)`` passes (run in the sandbox, :mod:`.sandbox`).

Which rubric checklist item each check is evidence for lives in ``code_items.yaml`` (checked
against :data:`RUBRIC` on load), so no rubric id is spelled here.
"""

from __future__ import annotations

import ast
import doctest
import gzip
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from oma_analysis import OmaError
from oma_analysis.code.sandbox import DEFAULT_LIMITS, Limits, Result, run_python
from oma_analysis.generate.records import Completion
from oma_analysis.prompts.records import PromptRecord

CHECKS = ("code.syntax", "code.signature", "code.examples", "code.tests")
FILE = "HumanEval.jsonl.gz"
INSTRUCTION = ("Complete the following Python function. Reply with the whole function (imports "
               "included) in one Python code block.\n\n```python\n{prompt}```")
# The marker the harness prints its example score with (the code can print it too: results are
# only as honest as the code; containment does not depend on them).
_MARK = "@@oma-examples"


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str
    test: str

    @property
    def id(self) -> str:
        """Prompt id: ``humaneval/0`` for ``HumanEval/0``."""
        return "humaneval/" + self.task_id.split("/", 1)[1]


def load_problems(folder: str | Path) -> list[Problem]:
    """The 164 problems of ``folder/HumanEval.jsonl.gz`` (or ``.jsonl``); errors name file, line, field."""
    folder = Path(folder)
    path = folder / FILE if (folder / FILE).exists() else folder / "HumanEval.jsonl"
    if not path.exists():
        raise OmaError(f"{folder}: no {FILE} (or HumanEval.jsonl) here")
    opener = gzip.open if path.suffix == ".gz" else open
    out = []
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise OmaError(f"{path}: line {n}: not JSON ({e.msg})") from None
            for k in ("task_id", "prompt", "entry_point", "canonical_solution", "test"):
                if not isinstance(d.get(k), str):
                    raise OmaError(f"{path}: line {n}: field {k!r}: missing or not a string")
            out.append(Problem(d["task_id"], d["prompt"], d["entry_point"], d["canonical_solution"], d["test"]))
    return out


def as_prompts(problems: Iterable[Problem]) -> list[PromptRecord]:
    """One chat prompt per problem (the function stub in a code block), for :mod:`oma_analysis.generate`."""
    return [PromptRecord(id=p.id, messages=[{"role": "user", "content": INSTRUCTION.format(prompt=p.prompt)}],
                         task_type="code", source="humaneval", licence="MIT",
                         meta={"task_id": p.task_id, "entry_point": p.entry_point})
            for p in problems]


_FENCE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.S)


def _code(problem: Problem, text: str) -> tuple[str, bool]:
    """(the code of a completion, whether it defines the entry point itself): the first fenced
    block, else the whole text less stray fence lines (e.g. a closing ``` after the code)."""
    blocks = [b for b in _FENCE.findall(text) if b.strip()]
    code = blocks[0] if blocks else re.sub(r"^[ \t]*```.*$", "", text, flags=re.M)
    return code, bool(re.search(rf"^def\s+{re.escape(problem.entry_point)}\s*\(", code, re.M))


def program(problem: Problem, text: str) -> str:
    """The program a completion stands for. When it defines the entry point it follows the prompt
    (whose imports and helpers it may use; its stub gets a ``pass`` body and is replaced); otherwise
    it continues the stub (HumanEval's completion format: the function body)."""
    code, defines = _code(problem, text)
    if defines:
        return problem.prompt + "\n    pass\n\n" + code.strip("\n") + "\n"
    return problem.prompt + code


def _params(fn: ast.FunctionDef) -> list[str]:
    a = fn.args
    return [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]


def _entry(problem: Problem, tree: ast.Module) -> list[ast.FunctionDef]:
    return [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == problem.entry_point]


def static_checks(problem: Problem, text: str) -> dict[str, bool]:
    """``code.syntax``: the program parses; ``code.signature``: the completion is the stub's body, or
    defines the entry point (its last definition wins, as at run time) with the prompt's parameter
    names; a completion that writes some other top-level function instead does not keep it."""
    try:
        ast.parse(program(problem, text))
    except (SyntaxError, ValueError):
        return {"code.syntax": False, "code.signature": False}
    code, defines = _code(problem, text)
    want = _entry(problem, ast.parse(problem.prompt + "\n    pass\n"))[-1]
    if defines:
        try:
            got = _entry(problem, ast.parse(code))
        except SyntaxError:  # parses only after the prompt (e.g. uses its indentation): read the whole
            got = _entry(problem, ast.parse(program(problem, text)))
        return {"code.syntax": True, "code.signature": bool(got) and _params(got[-1]) == _params(want)}
    first = next((ln for ln in code.splitlines() if ln.strip()), "")
    return {"code.syntax": True, "code.signature": first[:1] in (" ", "\t")}


def examples(problem: Problem) -> list[tuple[str, str]]:
    """The docstring's doctest examples: (expression, shown value)."""
    fn = [f for f in ast.parse(problem.prompt + "\n    pass\n").body
          if isinstance(f, ast.FunctionDef) and f.name == problem.entry_point][-1]
    doc = ast.get_docstring(fn) or ""  # the docstring, not the prompt: its closing quotes are no output
    try:
        return [(e.source.strip(), e.want.strip()) for e in doctest.DocTestParser().get_examples(doc)]
    except ValueError:  # irregular indentation (a few problems): one-line examples, line by line
        lines = [ln.strip() for ln in doc.splitlines()]
        return [(ln[4:], lines[i + 1] if i + 1 < len(lines) and not lines[i + 1].startswith(">>>") else "")
                for i, ln in enumerate(lines) if ln.startswith(">>> ")]


# The examples count only where the reference solution gives the shown value: a few HumanEval
# docstrings show wrong values (HumanEval/47's median) or are not doctests (HumanEval/116).
_HARNESS = '''
import sys
sys.setrecursionlimit(10000)

def score(path):
    ns = {{"__name__": "solution"}}
    exec(compile(open(path).read(), path, "exec"), ns)
    out = []
    for src, want in {examples!r}:
        try:
            got = eval(src, ns)
            ok = got is None or got is True if not want else (got == eval(want, ns) or repr(got) == want)
        except BaseException:
            ok = False
        out.append(bool(ok))
    return ns, out

_, ref = score("reference.py")
ns, got = score("solution.py")
print({mark!r}, sum(g for g, r in zip(got, ref) if r), sum(ref), flush=True)
exec(compile({test!r}, "test.py", "exec"), ns)
ns["check"](ns[{entry!r}])
'''


def run_tests(problem: Problem, src: str, limits: Limits = DEFAULT_LIMITS) -> tuple[Result, int | None, int]:
    """Run the examples and the tests of ``problem`` on ``src`` in the sandbox: (sandbox result
    — ``ok`` iff every test passed —, examples passed (None when the run died before), examples
    that the reference solution passes)."""
    ex = examples(problem)
    harness = _HARNESS.format(examples=ex, mark=_MARK, test=problem.test, entry=problem.entry_point)
    ref = program(problem, problem.canonical_solution)
    res = run_python(harness, limits, files={"solution.py": src, "reference.py": ref})
    k, n = None, len(ex)
    for line in res.stdout.splitlines():
        if line.startswith(_MARK + " "):
            k, n = map(int, line.split()[1:3])
    return res, k, n


def evaluate(completions: Iterable[Completion], problems: Mapping[str, Problem], limits: Limits = DEFAULT_LIMITS
             ) -> pd.DataFrame:
    """One row per completion: its model/setting, the four checks (None = not evaluable), the
    sandbox status, reason and wall time. Completions of other prompts raise (a wrong suite)."""
    rows = []
    for c in completions:
        p = problems.get(c.prompt_id)
        if p is None:
            raise OmaError(f"completion {c.key}: field 'prompt_id': {c.prompt_id!r} is not a HumanEval problem")
        src = program(p, c.text)
        row: dict[str, Any] = {"model": c.model, "prompt_id": c.prompt_id, "variant": c.variant,
                               "framing": c.framing, "temperature": c.params.get("temperature"),
                               "sample": c.sample, "key": c.key, "truncated": bool(c.meta.get("truncated")),
                               **static_checks(p, c.text)}
        if row["code.syntax"]:
            res, k, n = run_tests(p, src, limits)
            row.update({"code.examples": None if n == 0 else (k == n if k is not None else False),
                        "examples_k": k, "examples_n": n, "code.tests": res.ok, "status": res.status,
                        "reason": res.reason, "wall_s": res.wall_s})
        else:  # nothing to run: it does not parse
            n = len(examples(p))
            row.update({"code.examples": None if n == 0 else False, "examples_k": 0, "examples_n": n,
                        "code.tests": False, "status": "syntax_error", "reason": "does not parse", "wall_s": 0.0})
        rows.append(row)
    return pd.DataFrame(rows, columns=["model", "prompt_id", "variant", "framing", "temperature", "sample", "key",
                                       "truncated", *CHECKS, "examples_k", "examples_n", "status", "reason", "wall_s"])


def check_frame(results: pd.DataFrame) -> pd.DataFrame:
    """The long frame of :func:`oma_analysis.stats.auto.check_frame` (one row per completion × check),
    so :func:`oma_analysis.stats.auto.summarise` computes the code metric unchanged."""
    # A program cut by the token limit stays evaluable: code has no asked length, and a cut is a
    # runaway output (a loop) the model produced, unlike a length check that the limit decides.
    long = results.melt(id_vars=["model", "prompt_id", "variant", "framing", "temperature", "sample", "key",
                                 "truncated"], value_vars=list(CHECKS), var_name="check", value_name="passed")
    long["unit"] = long["check"]
    long["passed"] = long["passed"].astype(object).where(long["passed"].notna(), None)
    return long[["model", "prompt_id", "variant", "framing", "temperature", "sample", "key", "check", "unit",
                 "truncated", "passed"]].sort_values(["model", "prompt_id", "key", "check"], ignore_index=True)


@cache
def code_ids() -> dict[str, dict[str, str]]:
    """The rubric ids the code extension uses (``code_items.yaml``: ``checks`` -> capable checklist
    item, ``failure_types`` -> failure type), validated against :data:`RUBRIC`."""
    from oma_analysis.rubric import RUBRIC

    path = Path(__file__).with_name("code_items.yaml")
    raw = yaml.safe_load(path.read_text())
    known = {i.id for i in RUBRIC.capable_items}
    for check, item in raw["checks"].items():
        if check not in CHECKS:
            raise OmaError(f"{path}: checks: {check!r}: not a code check ({', '.join(CHECKS)})")
        if item not in known:
            raise OmaError(f"{path}: checks: {check}: {item!r} is not a capable checklist item of the rubric")
    fts = {f.id for f in RUBRIC.failure_types.active}
    for key, ft in raw["failure_types"].items():
        if ft not in fts:
            raise OmaError(f"{path}: failure_types: {key}: {ft!r} is not an active failure type of the rubric")
    return raw


def check_items() -> dict[str, str]:
    """check -> the rubric checklist item it is evidence for."""
    return dict(code_ids()["checks"])


def code_evidence(results: pd.DataFrame) -> pd.DataFrame:
    """Evidence frame (``model, item, source, k, n, detail``; source ``auto``) for
    :func:`oma_analysis.stats.profiles.build_profile`: per model and check, k completions (any
    setting) that passed of the n where it was evaluable."""
    from oma_analysis.stats.profiles import EVIDENCE_COLUMNS

    rows = []
    for check, item in check_items().items():
        for model, g in results.groupby("model", sort=True):
            v = g[check].dropna()
            if len(v):
                k = int(v.astype(bool).sum())
                rows.append({"model": model, "item": item, "source": "auto", "k": k, "n": len(v),
                             "detail": f"{check}: {k} of {len(v)} HumanEval completions (sandboxed run)"})
    return pd.DataFrame(rows, columns=EVIDENCE_COLUMNS)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimate (Chen et al. 2021, eq. 1): n samples, c correct.

    >>> pass_at_k(10, 0, 1), pass_at_k(10, 10, 1), round(pass_at_k(10, 3, 1), 3), round(pass_at_k(4, 1, 2), 3)
    (0.0, 1.0, 0.3, 0.5)
    """
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod
