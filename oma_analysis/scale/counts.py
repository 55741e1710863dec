"""Counts-based statistics out of core: the tidy frame as Parquet, per-unit counts from DuckDB.

Krippendorff's alpha, Fleiss' kappa, Gwet's AC1, Brennan-Prediger, percent and specific agreement
and the bounded rates need only per-unit category counts, not the rows. DuckDB scans the Parquet
files (streaming, spilling to disk past ``memory_limit``) and returns those counts: one row per
(unit, category) used, or per (completion, rule question) for rates, so memory follows the number of
units, never the number of rows. The counts then go through the very functions the in-memory path
uses (``agreement.agreement`` on :class:`Ratings`, ``rates.bounded_rates`` on an aggregate frame),
so the numbers agree with ``oma_analysis.ingest.load(...).frame`` to rounding (tested to 1e-12).

Statistics that need who rated what (Cohen's kappa, pairwise tables, Dawid-Skene) still need the
frame: load only the question they use (``pd.read_parquet(path, filters=[("question", "==", q)])``).

>>> import pandas as pd, tempfile, os
>>> df = pd.DataFrame({"task": list("aabb"), "worker": list("xyxy"), "question": "q", "label": list("1122")})
>>> path = write_parquet(df, os.path.join(tempfile.mkdtemp(), "frame.parquet"))
>>> agreement_from_parquet(path, "fleiss", question="q").value
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.aggregate import NO_MODEL, labels_from_counts, rule_questions
from oma_analysis.stats.agreement import AgreementResult, Ratings, agreement
from oma_analysis.stats.agreement.ratings import category_order, category_values
from oma_analysis.stats.rates import bounded_rates

__all__ = ["write_parquet", "ratings_from_parquet", "agreement_from_parquet", "aggregate_from_parquet",
           "rates_from_parquet", "parquet_questions"]

Source = str | Path | Sequence[str | Path]


def write_parquet(frame: pd.DataFrame, path: str | Path, row_group_size: int = 1_000_000) -> Path:
    """The tidy frame as one Parquet file (columnar, dictionary-encoded strings), row order kept:
    the order decides which of a labeller's repeated ratings counts (the last, as in memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=row_group_size)
    return path


def _connect(memory_limit: str | None = None):
    import duckdb

    con = duckdb.connect()
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET preserve_insertion_order = false")
    return con


def _scan(source: Source) -> str:
    """A DuckDB relation over the file(s) with a global row order (file, row number)."""
    files = [str(source)] if isinstance(source, str | Path) else [str(s) for s in source]
    lst = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
    return f"read_parquet({lst}, filename = true, file_row_number = true, union_by_name = true)"


def _columns(con, source: Source) -> set[str]:
    return {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {_scan(source)}").fetchall()}


def parquet_questions(source: Source) -> list[str]:
    """The questions in the file(s), sorted."""
    con = _connect()
    return [r[0] for r in con.execute(
        f"SELECT DISTINCT CAST(question AS VARCHAR) q FROM {_scan(source)} WHERE question IS NOT NULL ORDER BY q"
    ).fetchall()]


def ratings_from_parquet(source: Source, question: str | None = None, categories: list[str] | None = None,
                         memory_limit: str | None = None) -> Ratings:
    """:class:`Ratings` of one question built from DuckDB's per-unit counts, as
    ``ratings_from_frame`` would build them from the frame (missing labels ignored; a labeller's
    repeated rating of a task: the last counts). Its ``worker`` codes are placeholders (one per
    rating is not kept): use it for the counts-based coefficients only."""
    con = _connect(memory_limit)
    cols = _columns(con, source)
    where = "label IS NOT NULL"
    params: list = []
    if "question" in cols:
        if question is None:
            qs = parquet_questions(source)
            if len(qs) > 1:
                raise ValueError(f"the file holds {len(qs)} questions; name one")
            question = qs[0] if qs else None
        if question is not None:
            where += " AND CAST(question AS VARCHAR) = ?"
            params.append(question)
    # The last rating of each (task, worker) in file order, then counts per (task, label).
    sql = f"""
        WITH r AS (SELECT CAST(task AS VARCHAR) t, CAST(worker AS VARCHAR) w, CAST(label AS VARCHAR) l,
                          filename f, file_row_number n FROM {_scan(source)} WHERE {where}),
             last AS (SELECT t, l, f, n FROM r
                      QUALIFY row_number() OVER (PARTITION BY t, w ORDER BY f DESC, n DESC) = 1)
        SELECT t, l, count(*) c, min(min((f, n))) OVER (PARTITION BY t) o FROM last GROUP BY t, l ORDER BY o"""
    got = con.execute(sql, params).fetch_df()
    n_rows = con.execute(f"SELECT count(*) FROM {_scan(source)} WHERE {where}", params).fetchone()[0]
    if question is not None and n_rows == 0:
        raise ValueError(f"no ratings for question {question!r}")
    seen = sorted(got["l"].unique().tolist())
    if categories is None:
        categories = category_order(question, seen)
    elif extra := [lab for lab in seen if lab not in set(categories)]:
        raise ValueError(f"label {extra[0]!r} is not among the categories {categories}")
    # Units in the order they first appear among the kept rows, as in memory: the bootstrap
    # resamples unit positions, so the same seed then gives the same interval.
    unit_code, unit_ids = pd.factorize(got["t"], sort=False)
    cat_code = pd.Categorical(got["l"], categories=categories).codes.astype(np.int64)
    reps = got["c"].to_numpy(np.int64)
    # One entry per rating, expanded from the counts (8 bytes each, unlike the frame's ~100+).
    unit = np.repeat(unit_code.astype(np.int64), reps)
    cat = np.repeat(cat_code, reps)
    return Ratings(unit=unit, worker=np.zeros(len(unit), dtype=np.int64), category=cat,
                   unit_ids=np.asarray(unit_ids), worker_ids=np.asarray(["(counts only)"], dtype=object),
                   categories=tuple(categories), values=category_values(question, list(categories)),
                   question=question, n_duplicates=int(n_rows - reps.sum()))


def agreement_from_parquet(source: Source, metric: str, level: str = "nominal", *, question: str | None = None,
                           n_boot: int = 0, seed: int | None = None, ci_level: float = 0.95,
                           memory_limit: str | None = None) -> AgreementResult:
    """``agreement.agreement`` on the counts (every metric but ``cohen``, which needs raters)."""
    if metric == "cohen":
        raise ValueError("cohen needs who rated what: load the question's rows (pd.read_parquet(..., filters=))")
    r = ratings_from_parquet(source, question, memory_limit=memory_limit)
    return agreement(r, metric, level, n_boot=n_boot, seed=seed, ci_level=ci_level)


def aggregate_from_parquet(source: Source, policy: str = "majority", questions: Sequence[str] | None = None,
                           memory_limit: str | None = None) -> pd.DataFrame:
    """``aggregate.aggregate`` from verdict counts per (completion, rule question) computed by
    DuckDB: columns ``completion, question, model, prompt, label, severity, n_labels, n_<choice>``
    (model and prompt of the unit's first row, as in memory). Policies: majority, any, all
    (Dawid-Skene needs the raters: use the frame)."""
    if policy not in ("majority", "any", "all"):
        raise ValueError(f"policy {policy!r} is not counts-based; use aggregate() on the frame")
    con = _connect(memory_limit)
    cols = _columns(con, source)
    scan = _scan(source)
    if questions is None:
        questions = rule_questions(pd.DataFrame({"question": parquet_questions(source)}))
    has_comp = "completion" in cols and con.execute(
        f"SELECT count(*) FROM {scan} WHERE completion IS NOT NULL").fetchone()[0] > 0
    unit = "CAST(completion AS VARCHAR)" if has_comp else "CAST(task AS VARCHAR)"
    gold = "AND NOT coalesce(CAST(ground_truth AS BOOLEAN), false)" if "ground_truth" in cols else ""
    model = "CAST(model AS VARCHAR)" if "model" in cols else "NULL"
    prompt = "CAST(prompt AS VARCHAR)" if "prompt" in cols else "NULL"
    sums = ", ".join(f"count(*) FILTER (WHERE l = '{v}') AS \"n_{v}\"" for v in RUBRIC.verdict_ids)
    qlist = ", ".join("?" for _ in questions) or "NULL"
    sql = f"""
        WITH r AS (SELECT {unit} u, CAST(question AS VARCHAR) q, CAST(label AS VARCHAR) l, {model} m,
                          {prompt} p, filename f, file_row_number n FROM {scan}
                   WHERE CAST(question AS VARCHAR) IN ({qlist}) {gold}
                     AND CAST(label AS VARCHAR) IN ({", ".join("?" for _ in RUBRIC.verdict_ids)}))
        SELECT u, q, arg_min(m, (f, n)) m, arg_min(p, (f, n)) p, min((f, n)) o, {sums}
        FROM r GROUP BY u, q ORDER BY o"""
    got = con.execute(sql, [*questions, *RUBRIC.verdict_ids]).fetch_df()
    counts = got[[f"n_{v}" for v in RUBRIC.verdict_ids]].to_numpy(np.int64)
    label = labels_from_counts(counts, policy)
    out = pd.DataFrame({
        "completion": got["u"].to_numpy(), "question": got["q"].to_numpy(),
        "model": got["m"].astype("string").fillna(NO_MODEL).to_numpy() if "model" in cols else NO_MODEL,
        "prompt": got["p"].astype("string").to_numpy() if "prompt" in cols else pd.NA,
        "label": np.asarray(RUBRIC.verdict_ids, dtype=object)[label], "severity": label,
        "n_labels": counts.sum(axis=1)})
    for j, c in enumerate(RUBRIC.verdict_ids):
        out[f"n_{c}"] = counts[:, j]
    return out


def rates_from_parquet(source: Source, policy: str = "majority", confidence: float = 0.95, method: str = "beta",
                       by: Sequence[str] = ("model", "question"), cluster: bool | None = None,
                       memory_limit: str | None = None) -> pd.DataFrame:
    """``rates.bounded_rates`` of :func:`aggregate_from_parquet` (one row per completion and rule
    question is all it holds in memory)."""
    return bounded_rates(aggregate_from_parquet(source, policy, memory_limit=memory_limit), confidence,
                         method, by, cluster)
