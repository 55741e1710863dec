"""Checks over shards: Ray Data equals the single-process run row for row (and ``oma checks
--json``), results are partitioned by model and date, and an interrupted run resumes by shard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from oma_analysis.cli import main
from oma_analysis.scale.shards import DONE, read_results, run_shards, shard_key

RECS = [
    {"prompt": "Answer in English, all lowercase, in one sentence.", "response": "the sea is big and blue.",
     "model": "m1", "date": "2026-01-02"},
    {"prompt": "Write two paragraphs about cats.", "response": "Cats are great. " * 5, "model": "m/2",
     "timestamp": "2026-01-03T10:00:00Z", "id": 7},
    {"prompt": "Write a haiku.", "response": "An old silent pond",
     "instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}], "model": "m1"},
    {"prompt": "Réponds en français, en deux phrases.", "response": "Sure! Here is my answer in English.",
     "model": "m1", "created_at": "2026-01-02T08:00:00Z"},
]


def _shards(tmp: Path, n: int = 3, per: int = 12) -> list[Path]:
    paths = []
    for i in range(n):
        p = tmp / f"logs-{i}.jsonl"
        lines = [json.dumps(RECS[(i + j) % len(RECS)]) for j in range(per)]
        lines.insert(3, "")  # a blank line keeps the line numbers of the records after it
        p.write_text("\n".join(lines) + "\n")
        paths.append(p)
    return paths


def test_ray_equals_single_process_row_for_row(tmp_path: Path) -> None:
    shards = _shards(tmp_path)
    (tmp_path / "logs-9-empty.jsonl").write_text("\n")
    one = run_shards(str(tmp_path / "logs-*.jsonl"), tmp_path / "one")
    par = run_shards(str(tmp_path / "logs-*.jsonl"), tmp_path / "ray", ray=True, workers=2, chunk_records=5)
    assert one.records == par.records == 36 and len(par.processed) == 4
    a, b = read_results(tmp_path / "one"), read_results(tmp_path / "ray")
    assert len(a) == 36
    assert a.equals(b)
    # partitioned by model and date (model names with '/' are escaped in the directory name)
    parts = sorted(p.parent.relative_to(tmp_path / "ray").as_posix()
                   for p in (tmp_path / "ray").glob("model=*/date=*/*.parquet"))
    assert "model=m%2F2/date=2026-01-03" in parts and "model=m1/date=2026-01-02" in parts
    assert set(a["model"]) == {"m1", "m/2"} and set(a["date"]) == {"2026-01-02", "2026-01-03", "unknown"}
    # each row's result is exactly the `oma checks --json` line of that record
    cli = CliRunner().invoke(main, ["checks", str(shards[0]), "--json"])
    assert cli.exit_code == 0, cli.output
    mine = a[a["shard"] == str(shards[0])]
    assert mine["result"].tolist() == cli.output.strip().splitlines()
    assert mine["line"].tolist() == [1, 2, 3] + list(range(5, 14))


def test_interrupted_run_resumes_without_redoing_done_shard(tmp_path: Path) -> None:
    shards = _shards(tmp_path, per=6)
    out = tmp_path / "out"
    seen: list[str] = []

    def crash_after_first(key: str, n: int) -> None:
        seen.append(key)
        raise KeyboardInterrupt  # as if the run were stopped right after committing one shard

    with pytest.raises(KeyboardInterrupt):
        run_shards([str(s) for s in shards], out, on_shard=crash_after_first)
    first = shard_key(shards[0])
    assert seen == [first]
    marker = out / DONE / f"{first}.json"
    done_files = sorted(out.glob(f"model=*/date=*/{first}.parquet"))
    stamps = {p: p.stat().st_mtime_ns for p in [marker, *done_files]}
    # a second shard killed half-way left a stray file: the rerun must replace it
    stray = out / "model=m1" / "date=2026-01-02" / f".{shard_key(shards[1])}.parquet.tmp"
    stray.write_bytes(b"partial")

    again = run_shards([str(s) for s in shards], out, on_shard=lambda k, n: seen.append(k))
    assert again.skipped == [first] and again.processed == [shard_key(s) for s in shards[1:]]
    assert seen == [first] + again.processed  # the done shard was not checked again
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert not stray.exists()
    fresh = run_shards([str(s) for s in shards], tmp_path / "fresh")
    assert read_results(out).equals(read_results(tmp_path / "fresh")) and fresh.records == 18
    # everything done: a rerun (even on Ray) does nothing
    assert run_shards([str(s) for s in shards], out, ray=True).processed == []


def test_cli_shards_flags(tmp_path: Path) -> None:
    _shards(tmp_path, n=2, per=3)
    args = ["checks", "--shards", str(tmp_path / "logs-*.jsonl"), "--out", str(tmp_path / "r")]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output) == {"processed": 2, "skipped": 0, "records": 6, "out": str(tmp_path / "r")}
    assert json.loads(CliRunner().invoke(main, args).output)["skipped"] == 2
    bad = CliRunner().invoke(main, ["checks", "--shards", str(tmp_path / "none-*.jsonl"), "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "no file matches" in bad.output


def test_classifier_scoring_on_ray_equals_direct_predict(tmp_path: Path, shared_dir: Path) -> None:
    """Classifier scoring over shards (``--classifier``): one model load per worker, the scores of
    ``IntentClassifier.predict`` on the same (prompt, response) pairs, on Ray as in one process."""
    import numpy as np

    from oma_analysis.checks.ifeval import load_ifeval
    from oma_analysis.classifier.data import ifeval_pairs
    from oma_analysis.classifier.model import IntentClassifier

    df = ifeval_pairs(load_ifeval(shared_dir / "datasets" / "ifeval"), n=16, seed=2)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"prompt": a[:200], "completion": b[:300], "label": int(y)}) + "\n"
                            for a, b, y in df.itertuples(index=False)))
    root = tmp_path / "models"
    res = CliRunner().invoke(main, ["train", "--data", str(data), "--out", str(root), "--epochs", "1",
                                    "--max-length", "64", "--batch-size", "16"])
    assert res.exit_code == 0, res.output
    _shards(tmp_path, n=2, per=3)
    args = ["checks", "--shards", str(tmp_path / "logs-*.jsonl"), "--classifier", str(root)]
    assert CliRunner().invoke(main, [*args, "--out", str(tmp_path / "one")]).exit_code == 0
    got = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "ray"), "--ray", "--workers", "1"])
    assert got.exit_code == 0, got.output
    a, b = read_results(tmp_path / "one"), read_results(tmp_path / "ray")
    assert len(a) == 6 and a.drop(columns="p_not_met").equals(b.drop(columns="p_not_met"))
    clf = IntentClassifier.load(root)
    recs = [json.loads(line) for s in sorted(tmp_path.glob("logs-*.jsonl")) for line in s.read_text().splitlines()
            if line.strip()]
    want = clf.predict([(r["prompt"], r["response"]) for r in recs])
    assert np.allclose(a["p_not_met"], want, atol=1e-5) and np.allclose(b["p_not_met"], want, atol=1e-5)
    assert set(a["classifier_version"]) == {clf.version}


def test_parquet_shard_equals_jsonl_shard(tmp_path: Path) -> None:
    """A Parquet shard (kwargs as a list of structs: Arrow fills absent keys with nulls) gives the
    same results as the JSONL shard of the same records."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    recs = [{"prompt": "Write about tides in exactly 2 paragraphs.", "response": "Tides rise.\n\n***\n\nThey fall.",
             "instruction_id_list": ["length_constraints:number_paragraphs", "detectable_format:title"],
             "kwargs": [{"num_paragraphs": 2}, {}], "model": "m1", "date": "2026-02-01"},
            {"prompt": "Answer in lowercase.", "response": "ok then", "instruction_id_list":
             ["change_case:english_lowercase"], "kwargs": [{}], "model": "m2", "date": "2026-02-02"}]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "logs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    pq.write_table(pa.Table.from_pylist(recs), tmp_path / "b" / "logs.parquet")
    run_shards(str(tmp_path / "a" / "*.jsonl"), tmp_path / "ra")
    run_shards(str(tmp_path / "b" / "*.parquet"), tmp_path / "rb")
    a, b = read_results(tmp_path / "ra"), read_results(tmp_path / "rb")
    assert a.drop(columns="shard").equals(b.drop(columns="shard")) and len(a) == 2


def test_worker_warm_up_loads_every_check_model() -> None:
    """A Ray worker (``ChunkChecker``) loads the check models in ``__init__``, once, so no chunk
    pays for them: the language identifier and the offensive-language model are cached after it."""
    from oma_analysis.checks import language, offensive
    from oma_analysis.scale.shards import ChunkChecker

    loaders = (language._identifier, offensive._model, offensive._linear)
    for f in loaders:
        f.cache_clear()
    ChunkChecker()
    assert [f.cache_info().currsize for f in loaders] == [1, 1, 1]
