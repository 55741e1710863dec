"""The automatic checks on IFEval (541 prompts) with GPT-4's responses, read from
``../shared/datasets/ifeval/`` (joined by prompt text; never copied into the repo; see
``oma_analysis.checks.ifeval``), compared with the official checker's strict verdicts on the dev
half (``official_strict_results_gpt4_dev.jsonl``; the other half is held back and never read here).

Prints, per instruction type on the dev half: n, covered (a check decides it), agreement with the
official verdict; then, on all records, how often our check says followed / not followed / not
covered and the always-on checks' fire rates; then one JSON line (the benchmarks' common form):
``ours`` = agreement on the covered dev instructions, ``coverage`` = covered / all dev instructions.
``--flagged FILE`` writes every "not followed" case (prompt, instruction, evidence) as JSONL for
review by hand; ``--disagreements FILE`` the dev cases where we differ from the official verdict.

    python benchmarks/ifeval_checks.py [--quick] [--data DIR] [--flagged FILE] [--disagreements FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from oma_analysis.checks import check_record, parse_prompt
from oma_analysis.checks.ifeval import default_ifeval_dir, load_ifeval

# The shared data sets are read in place, beside the checkout (unless OMA_SHARED_DIR says otherwise).
os.environ.setdefault("OMA_SHARED_DIR", str(Path(__file__).resolve().parents[2] / "shared"))

DEV_FILE = "official_strict_results_gpt4_dev.jsonl"

# Instruction types the free-text prompt parser knows (the rest need the record's ids).
PARSED_TYPES = ("length_constraints:number_words", "length_constraints:number_sentences",
                "length_constraints:number_paragraphs", "change_case:english_lowercase",
                "change_case:english_capital", "detectable_format:json_format",
                "detectable_format:number_bullet_lists", "startend:end_checker", "language:response_language",
                "combination:repeat_prompt")

def evaluate(records: list[dict]) -> tuple[dict[str, Counter], Counter, Counter, list[dict]]:
    per_type: dict[str, Counter] = defaultdict(Counter)
    ran, fired = Counter(), Counter()
    flagged = []
    for rec in records:
        rep = check_record(rec, where=f"ifeval key {rec.get('key')}")
        for (iid, followed), kw, res in zip(rep.instructions, rec["kwargs"], rep.per_constraint, strict=True):
            per_type[iid]["followed" if followed else "not_covered" if followed is None else "not_followed"] += 1
            if followed is False:
                flagged.append({"key": rec.get("key"), "instruction_id": iid, "kwargs": kw,
                                "detail": res.detail, "evidence": [s.to_dict() for s in res.evidence][:3],
                                "prompt": rec["prompt"], "response": rec["response"]})
        for c in rep.checks:
            if c.instruction_id is None:
                ran[c.check_id] += 1
                fired[c.check_id] += not c.passed
                if not c.passed:
                    flagged.append({"key": rec.get("key"), "check_id": c.check_id, "detail": c.detail,
                                    "evidence": [s.to_dict() for s in c.evidence][:3],
                                    "prompt": rec["prompt"], "response": rec["response"]})
    return per_type, ran, fired, flagged


def dev_agreement(data_dir: Path, records: list[dict]) -> tuple[dict[str, Counter], list[dict]]:
    """Per instruction type on the dev half: n, covered, agree (our verdict == official). Each dev
    record (prompt, response, official verdicts) gets its kwargs from IFEval's input data."""
    by_prompt = {r["prompt"]: r for r in records}
    per: dict[str, Counter] = defaultdict(Counter)
    disagreements = []
    for no, line in enumerate((data_dir / DEV_FILE).open(encoding="utf-8"), 1):
        dev = json.loads(line)
        src = by_prompt[dev["prompt"]]
        if src["instruction_id_list"] != dev["instruction_id_list"]:
            raise ValueError(f"{DEV_FILE} line {no}: instruction ids differ from the input data")
        rec = {"prompt": dev["prompt"], "response": dev["response"],
               "instruction_id_list": dev["instruction_id_list"], "kwargs": src["kwargs"]}
        rep = check_record(rec, where=f"{DEV_FILE} line {no}")
        for (iid, ours), official, res in zip(rep.instructions, dev["follow_instruction_list"],
                                             rep.per_constraint, strict=True):
            c = per[iid]
            c["n"] += 1
            if ours is None:
                continue
            c["covered"] += 1
            c["agree"] += ours == official
            if ours != official:
                disagreements.append({"line": no, "instruction_id": iid, "official": official, "ours": ours,
                                      "detail": res.detail, "evidence": [e.to_dict() for e in res.evidence][:3],
                                      "prompt": dev["prompt"], "response": dev["response"]})
    return per, disagreements


def parser_agreement(records: list[dict]) -> dict[str, Counter]:
    """Per type: records where the prompt parser finds the record's instruction (found), misses
    it (missed), or finds one the record doesn't list (spurious)."""
    out: dict[str, Counter] = defaultdict(Counter)
    for rec in records:
        parsed = {c.instruction_id: c for c in parse_prompt(rec["prompt"])}
        listed = dict(zip(rec["instruction_id_list"], rec["kwargs"], strict=True))
        for t in PARSED_TYPES:
            if t in listed:
                out[t]["found" if t in parsed else "missed"] += 1
            elif t in parsed:
                out[t]["spurious"] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="default: shared/datasets/ifeval")
    ap.add_argument("--quick", action="store_true", help="first 100 records only")
    ap.add_argument("--flagged", type=Path, help="write 'not followed' cases here (JSONL)")
    ap.add_argument("--disagreements", type=Path, help="write dev cases where we differ from the official verdict")
    args = ap.parse_args(argv)
    data_dir = args.data or default_ifeval_dir()
    records = load_ifeval(data_dir)
    dev, disagreements = dev_agreement(data_dir, records)
    print(f"{'dev half: instruction type':48} {'n':>4} {'covered':>8} {'agree':>6}")
    dtot: Counter = Counter()
    for iid in sorted(dev):
        c = dev[iid]
        dtot.update(c)
        print(f"{iid:48} {c['n']:4d} {c['covered']:8d} {c['agree']:6d}")
    print(f"{'all':48} {dtot['n']:4d} {dtot['covered']:8d} {dtot['agree']:6d}")
    print()
    if args.disagreements:
        with args.disagreements.open("w", encoding="utf-8") as fh:
            for d in disagreements:
                fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    if args.quick:
        records = records[:100]
    t0 = time.perf_counter()
    per_type, ran, fired, flagged = evaluate(records)
    secs = time.perf_counter() - t0

    print(f"{'instruction type':48} {'n':>4} {'followed':>9} {'not fol.':>9} {'not cov.':>9}")
    tot = Counter()
    for iid in sorted(per_type):
        c = per_type[iid]
        n = sum(c.values())
        tot.update(c)
        print(f"{iid:48} {n:4d} {c['followed']:9d} {c['not_followed']:9d} {c['not_covered']:9d}")
    n_all = sum(tot.values())
    print(f"{'all':48} {n_all:4d} {tot['followed']:9d} {tot['not_followed']:9d} {tot['not_covered']:9d}")
    print()
    print(f"{'always-on check':48} {'ran':>4} {'fired':>9}")
    for cid in sorted(ran):
        print(f"{cid:48} {ran[cid]:4d} {fired[cid]:9d}")
    print()
    print(f"{'prompt parser vs record ids':48} {'found':>6} {'missed':>7} {'spurious':>9}")
    for t, c in sorted(parser_agreement(records).items()):
        print(f"{t:48} {c['found']:6d} {c['missed']:7d} {c['spurious']:9d}")
    if args.flagged:
        with args.flagged.open("w", encoding="utf-8") as fh:
            for f in flagged:
                fh.write(json.dumps(f, ensure_ascii=False) + "\n")
    covered = tot["followed"] + tot["not_followed"]
    print(json.dumps({
        "name": "ifeval_checks", "ours": round(dtot["agree"] / max(1, dtot["covered"]), 4),
        "peer": None, "unit": "agreement with the official strict verdicts on the covered dev instructions",
        "ratio": None, "dev_instructions": dtot["n"], "dev_covered": dtot["covered"],
        "coverage": round(dtot["covered"] / max(1, dtot["n"]), 4), "dev_agree": dtot["agree"],
        "types_covered": sum(1 for c in dev.values() if c["covered"]), "types": len(dev),
        "records": len(records), "coverage_all": round(covered / max(1, n_all), 4),
        "followed_rate_covered": round(tot["followed"] / max(1, covered), 4),
        "ms_per_record": round(1000 * secs / max(1, len(records)), 2),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
