"""``oma checks`` over sharded usage logs (JSONL or Parquet), on Ray Data or in one process.

Each shard is one file of records ``{prompt, response}`` (+ optional IFEval ``instruction_id_list``
/ ``kwargs``, ``model``, ``date`` or ``timestamp``/``created_at``, ``id``). Every record gets the
same pure function as ``oma checks --json`` (:func:`oma_analysis.checks.check_record`); the result
rows go to Parquet under ``OUT/model=<model>/date=<YYYY-MM-DD>/<shard>.parquet`` (Hive layout, so
DuckDB/Polars/pyarrow read them back as one partitioned data set).

Resumable by shard: a shard's files are written under temporary names and renamed into place, then
``OUT/_done/<shard>.json`` (the commit marker, written last by rename) says the shard is complete.
A rerun skips shards with a marker and, for the others, first removes any files a killed run left.

Ray: locally ``ray.init()`` starts a private Ray on this machine; in production pass the address of
an existing cluster (``ray.init(address="ray://head:10001")`` or ``"auto"`` on a cluster node;
``oma checks --shards ... --ray --ray-address ray://head:10001``). Shards are read by the driver
(bounded by the shard size) and shipped as blocks; ``OUT`` must be a path the driver can write.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from oma_analysis import OmaError

#: result columns, in order (``result`` is exactly the ``oma checks --json`` line of the record)
COLUMNS = ("shard", "line", "id", "model", "date", "n_checks", "failed", "result")
DONE = "_done"


def shard_key(path: str | Path) -> str:
    """File-name-safe id of a shard: its stem plus a hash of the full path (two shards may share
    a name in different folders)."""
    p = Path(path)
    h = hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:10]
    return f"{p.stem}-{h}"


def read_shard(path: str | Path) -> pd.DataFrame:
    """A shard as ``line`` (1-based line or row number) + ``record`` (JSON text of the record).

    JSONL lines are kept as text (parsed by the workers, exactly as ``oma checks`` parses them);
    Parquet rows are turned into JSON (list/struct columns such as ``kwargs`` as JSON values;
    a ``kwargs`` column of JSON text is accepted too)."""
    p = Path(path)
    if p.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(p).to_pylist()
        recs = []
        for r in rows:
            if isinstance(r.get("kwargs"), str):
                r["kwargs"] = json.loads(r["kwargs"])
            if isinstance(r.get("kwargs"), list):  # Arrow fills absent struct keys with None
                r["kwargs"] = [None if k is None else {a: b for a, b in k.items() if b is not None}
                               for k in r["kwargs"]]
            recs.append(json.dumps(r, ensure_ascii=False, default=str))
        return pd.DataFrame({"line": range(1, len(recs) + 1), "record": recs})
    try:
        with p.open(encoding="utf-8") as fh:
            pairs = [(n, line) for n, line in enumerate(fh, 1) if line.strip()]
    except OSError as exc:
        raise OmaError(f"{p}: cannot read ({exc.strerror})") from None
    return pd.DataFrame({"line": [n for n, _ in pairs], "record": [s for _, s in pairs]})


def _date(rec: dict) -> str:
    for key in ("date", "timestamp", "created_at"):
        v = rec.get(key)
        if isinstance(v, str) and len(v) >= 10:
            return v[:10]
    return "unknown"


_CLASSIFIERS: dict[str, object] = {}  # per process: a Ray worker loads the model once


def _classifier(root: str):
    from oma_analysis.classifier.model import IntentClassifier

    if root not in _CLASSIFIERS:
        _CLASSIFIERS[root] = IntentClassifier.load(root)
    return _CLASSIFIERS[root]


def check_batch(batch: pd.DataFrame, classifier: str | None = None) -> pd.DataFrame:
    """The pure per-batch function Ray Data maps (and the single-process path calls): columns
    ``shard, line, record`` in, :data:`COLUMNS` out, one row per record, same order. With
    ``classifier`` (a model root, as ``oma train --out`` writes it) also ``p_not_met`` (the intent
    classifier's P(intent not met) for (prompt, response)) and ``classifier_version``."""
    from oma_analysis.checks import check_record

    out: dict[str, list] = {c: [] for c in COLUMNS}
    pairs: list[tuple[str, str]] = []
    for shard, line, text in zip(batch["shard"], batch["line"], batch["record"], strict=True):
        where = f"{shard} line {line}"
        try:
            rec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OmaError(f"{where}: not valid JSON ({exc.msg})") from None
        report = check_record(rec, where=where)
        d = report.to_dict(with_instructions=isinstance(rec, dict) and "instruction_id_list" in rec)
        out["shard"].append(shard)
        out["line"].append(int(line))
        out["id"].append(None if rec.get("id") is None else str(rec["id"]))
        out["model"].append(str(rec.get("model") or "unknown"))
        out["date"].append(_date(rec))
        out["n_checks"].append(len(report.checks))
        out["failed"].append(",".join(c.check_id for c in report.failed))
        out["result"].append(json.dumps(d, ensure_ascii=False))
        pairs.append((rec["prompt"], rec["response"]))
    frame = pd.DataFrame(out, columns=list(COLUMNS))
    if classifier:
        clf = _classifier(classifier)
        frame["p_not_met"] = clf.predict(pairs).astype(float) if pairs else []
        frame["classifier_version"] = clf.version
    return frame


@dataclass
class ShardRun:
    """What :func:`run_shards` did: shards processed now, skipped (already done), records checked."""

    processed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    records: int = 0


def expand_shards(pattern: str | Sequence[str]) -> list[Path]:
    """Shard files from a glob (or a list of paths), sorted; OmaError when none match."""
    pats = [pattern] if isinstance(pattern, str) else list(pattern)
    files = sorted({Path(f) for p in pats for f in (glob.glob(str(p)) or ([p] if Path(p).is_file() else []))})
    if not files:
        raise OmaError(f"--shards {pattern!r}: no file matches")
    bad = [f for f in files if f.suffix not in (".jsonl", ".parquet")]
    if bad:
        raise OmaError(f"{bad[0]}: shards must be .jsonl or .parquet")
    return files


def _commit(out: Path, key: str, shard: Path, rows: pd.DataFrame) -> None:
    """Write one shard's rows, partitioned by model and date, then its marker (atomic renames)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    written = []
    for (model, date), part in rows.groupby(["model", "date"], sort=True):
        d = out / f"model={quote(str(model), safe='')}" / f"date={quote(str(date), safe='')}"
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{key}.parquet.tmp"
        pq.write_table(pa.Table.from_pandas(part.drop(columns=["model", "date"]), preserve_index=False), tmp)
        written.append((tmp, d / f"{key}.parquet"))
    for tmp, final in written:
        os.replace(tmp, final)
    (out / DONE).mkdir(parents=True, exist_ok=True)
    marker = out / DONE / f"{key}.json"
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps({"shard": str(shard), "records": len(rows),
                               "files": [str(f.relative_to(out)) for _, f in written]}))
    os.replace(tmp, marker)


def _clean(out: Path, key: str) -> None:
    """Remove what an interrupted run left of an uncommitted shard."""
    for pat in (f"model=*/date=*/{key}.parquet", f"model=*/date=*/.{key}.parquet.tmp"):
        for f in out.glob(pat):
            f.unlink()


def run_shards(shards: str | Sequence[str | Path], out: str | Path, *, ray: bool = False,
               ray_address: str | None = None, workers: int | None = None, chunk_records: int = 500,
               classifier: str | Path | None = None,
               on_shard: Callable[[str, int], None] | None = None) -> ShardRun:
    """Check every record of every shard not yet done; see the module doc for the layout.

    ``ray``: one Ray Data execution over (shard, row range) chunks of ``chunk_records`` records,
    each read and checked by a worker (``ray_address``: an existing cluster, else a local Ray with
    ``workers`` CPUs); results stream back in input order and each shard is committed as soon as
    its last chunk is in. Otherwise one process (the default, best for small inputs).
    ``classifier``: also score each record with the intent classifier under that model root.
    ``on_shard(key, n_records)`` is called after each shard is committed."""
    clf = str(Path(classifier).resolve()) if classifier else None
    files = expand_shards([str(s) for s in shards] if not isinstance(shards, str) else shards)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run = ShardRun()
    todo = []
    for f in files:
        key = shard_key(f)
        if (out / DONE / f"{key}.json").exists():
            run.skipped.append(key)
        else:
            todo.append((f, key))
            _clean(out, key)
    results = (_ray_results(todo, ray_address, workers, chunk_records, clf) if ray and todo else
               ((f, key, check_batch(read_shard(f).assign(shard=str(f)), clf)) for f, key in todo))
    for f, key, rows in results:
        _commit(out, key, f, rows)
        run.processed.append(key)
        run.records += len(rows)
        if on_shard:
            on_shard(key, len(rows))
    return run


def count_records(path: str | Path) -> int:
    """Records in a shard without parsing them (non-blank lines; Parquet: from the footer)."""
    p = Path(path)
    if p.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(p).metadata.num_rows
    with p.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def check_chunk(batch: pd.DataFrame, classifier: str | None = None) -> pd.DataFrame:
    """Ray Data's task: read rows ``lo:hi`` of shard ``path`` (in the worker, so the driver never
    holds the logs) and check them; same rows as :func:`check_batch` on the whole shard."""
    parts = [check_batch(read_shard(path).iloc[int(lo):int(hi)].assign(shard=str(path)), classifier)
             for path, lo, hi in zip(batch["path"], batch["lo"], batch["hi"], strict=True)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(COLUMNS))


#: records that exercise every model-backed check (language id, offensive-language model, IFEval
#: instruction checks, the prompt parser), so a worker loads its models before the first chunk
_WARM = [
    {"prompt": "Answer in English, all lowercase, in two paragraphs. Do not use any commas.",
     "response": "the sea is big and blue today and the waves are high.\n\nwe went home after lunch.",
     "instruction_id_list": ["change_case:english_lowercase", "punctuation:no_comma"], "kwargs": [{}, {}]},
    {"prompt": "Réponds en français, en deux phrases.", "response": "Sure! Here is my answer in English, damn it."},
]


def warm_up(classifier: str | None = None) -> None:
    """Load the check models in this process (what the first record would otherwise pay)."""
    check_batch(pd.DataFrame({"shard": "warm-up", "line": range(1, len(_WARM) + 1),
                              "record": [json.dumps(r) for r in _WARM]}), classifier)


class ChunkChecker:
    """Ray Data's callable class: one per worker (an actor pool), which loads the check models once
    in ``__init__`` instead of in the first task, then checks one chunk per call."""

    def __init__(self, classifier: str | None = None) -> None:
        self.classifier = classifier
        warm_up(classifier)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return check_chunk(batch, self.classifier)


def local_ray_options(workers: int | None = None) -> dict:
    """``ray.init`` options for a private local Ray. Ray runs its workers at nice 15 by default;
    on a machine shared with other jobs they then get a sliver of the CPU (measured here: 3x slower
    than the plain loop with one worker), so they run at the driver's priority instead."""
    return {"num_cpus": workers or os.cpu_count() or 1, "include_dashboard": False, "log_to_driver": False,
            "logging_level": logging.WARNING, "_system_config": {"worker_niceness": 0}}


def _ray_results(todo: list[tuple[Path, str]], address: str | None, workers: int | None, chunk_records: int,
                 classifier: str | None = None):
    """(shard, key, result rows) per shard, in order, from one Ray Data ``map_batches`` execution."""
    import ray

    started = not ray.is_initialized()
    if started:
        if address:  # an existing cluster: oma must be installed on its nodes, shards on shared storage
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        else:
            # A private local Ray; its workers import oma_analysis from the driver's tree.
            import oma_analysis  # the sys.path entry it came from (site-packages once installed)

            root = str(Path(oma_analysis.__path__[0]).resolve().parent)
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
            ray.init(**local_ray_options(workers), runtime_env={"env_vars": {"PYTHONPATH": path}})
    try:
        import ray.data

        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # results in input order: row-for-row equal
        ctx.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        n_cpu = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        items = [{"path": str(f), "lo": lo, "hi": min(lo + chunk_records, n)}
                 for f, _ in todo for n in [count_records(f)] for lo in range(0, n, chunk_records)]
        by_path = {str(f): (f, key) for f, key in todo}
        pending = [str(f) for f, _ in todo]  # shards still to commit, in order
        current: str | None = None
        parts: list[pd.DataFrame] = []

        def finish(upto: str | None):
            """Commit shards in order up to ``upto`` (excluded); those before it had no more rows."""
            nonlocal parts
            while pending and pending[0] != upto:
                name = pending.pop(0)
                rows = (pd.concat(parts, ignore_index=True) if name == current and parts
                        else pd.DataFrame({c: [] for c in _columns(classifier)}))
                if name == current:
                    parts = []
                f, key = by_path[name]
                yield f, key, _plain(rows, classifier)

        if items:
            # An actor pool of one worker per CPU: each loads the models once (ChunkChecker.__init__)
            # and keeps them for every chunk it gets; tasks would reload them whenever Ray hands a
            # chunk to a fresh worker process.
            ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
                ChunkChecker, batch_size=1, batch_format="pandas",
                fn_constructor_kwargs={"classifier": classifier}, compute=ray.data.ActorPoolStrategy(size=n_cpu))
            for b in ds.iter_batches(batch_size=None, batch_format="pandas"):
                shard_col = b["shard"].astype(str).to_numpy()
                starts = [0] + [i for i in range(1, len(b)) if shard_col[i] != shard_col[i - 1]] + [len(b)]
                for lo, hi in zip(starts[:-1], starts[1:], strict=True):
                    name = shard_col[lo]
                    if name != current:
                        yield from finish(name)
                        current = name
                    parts.append(b.iloc[lo:hi])
        yield from finish(None)
    finally:
        if started:  # a Ray we started ourselves; one the caller started stays up
            ray.shutdown()


def _columns(classifier: str | None) -> list[str]:
    return list(COLUMNS) + (["p_not_met", "classifier_version"] if classifier else [])


def _plain(got: pd.DataFrame, classifier: str | None = None) -> pd.DataFrame:
    """Ray hands back Arrow-backed columns; rebuild them as check_batch makes them, so the files
    (and their schema) are the same whichever path wrote them."""
    cols = _columns(classifier)
    return pd.DataFrame({c: got[c].tolist() if c in got else [] for c in cols}, columns=cols)


def read_results(out: str | Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """All committed result rows under ``out`` (with ``model`` and ``date`` from the partitions),
    in shard then line order."""
    import pyarrow.dataset as pds

    out = Path(out)
    files = [str(f) for f in sorted(out.glob("model=*/date=*/*.parquet"))]
    if not files:
        return pd.DataFrame(columns=list(COLUMNS))
    ds = pds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=str(out))
    df = ds.to_table(columns=list(columns) if columns else None).to_pandas()
    from urllib.parse import unquote

    for c in ("model", "date"):
        if c in df.columns:
            df[c] = df[c].astype(str).map(unquote)
    return df.sort_values(["shard", "line"], kind="stable").reset_index(drop=True)
