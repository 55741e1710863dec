"""P7: batched generation (oma's generator: left padding, one ``generate`` call per batch) against a
plain one-prompt-at-a-time transformers loop, in the same process on the same model
(SmolLM2-135M-Instruct, dequantised from its GGUF), greedy, same framed inputs.

Reports new tokens per second for both, the speed-up, and on how many prompts the greedy text is
identical (goal: >= 95 %). For each prompt that differs it reports the first differing token and the
unbatched run's top-1 / top-2 logit gap there: left padding changes the shapes of the float32
matrix products, so rounding differs slightly, and where two tokens are nearly tied the argmax can
flip; from there the continuations diverge.

    python benchmarks/generate_throughput.py [--quick] [--model local:NAME] [--batch-size 8]

Measured (2026-11-29, shared 2-core machine at load ~10, OMA_TORCH_THREADS=1, --quick: 16 prompts,
40 new tokens, batch 8): one-at-a-time 308.9 s (1.9 tok/s), batched 146.8 s (4.0 tok/s), 2.1x;
same greedy text on 16/16 prompts.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    import torch

    from oma_analysis.generate.backends import GenParams, make_generator
    from oma_analysis.generate.framing import parse_variants
    from oma_analysis.prompts.records import core_prompts
    from oma_analysis.prompts.templates import sample

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--model", default="local:smollm2-135m-instruct")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=40)
    a = ap.parse_args()
    n = 16 if a.quick else 40
    prompts = (core_prompts() + sample(n, seed=7))[:n]
    gen = make_generator(a.model)
    v = parse_variants("chat+temp:0")[0]
    p = GenParams(max_new_tokens=a.max_new_tokens).for_variant(v)
    tok, model = gen.tok, gen.model

    # peer: one prompt at a time, no padding, plain model.generate
    t0 = time.perf_counter()
    single, single_ids, gaps = [], [], []
    for pr in prompts:
        text, stops = gen.frame(pr.messages, v)
        enc = tok(text, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=a.max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id, output_scores=True, return_dict_in_generate=True)
        new = out.sequences[0, enc["input_ids"].shape[1]:]
        single_ids.append(new.tolist())
        top2 = [s[0].topk(2).values.tolist() for s in out.scores]
        gaps.append([a_ - b_ for a_, b_ in top2])
        single.append(tok.decode(new, skip_special_tokens=True))
    t_single = time.perf_counter() - t0

    t0 = time.perf_counter()
    batched = []
    for i in range(0, len(prompts), a.batch_size):
        batched += gen.generate([x.messages for x in prompts[i:i + a.batch_size]], v, p, 0)
    t_batch = time.perf_counter() - t0

    from oma_analysis.generate.framing import cut_at_stop

    n_tokens = sum(len(ids) for ids in single_ids)
    same, diffs = 0, []
    for i, (s, b) in enumerate(zip(single, batched, strict=True)):
        s_text = cut_at_stop(s, gen.frame(prompts[i].messages, v)[1])[0].strip()
        if s_text == b.text:
            same += 1
            continue
        b_ids = tok(b.text, add_special_tokens=False)["input_ids"]
        s_ids = tok(s_text, add_special_tokens=False)["input_ids"]
        k = next((j for j, (x, y) in enumerate(zip(s_ids, b_ids, strict=False)) if x != y), min(len(s_ids), len(b_ids)))
        diffs.append({"prompt": prompts[i].id, "first_diff_token": k,
                      "unbatched_top2_logit_gap_there": round(gaps[i][k], 4) if k < len(gaps[i]) else None,
                      "median_gap_elsewhere": round(sorted(gaps[i])[len(gaps[i]) // 2], 4)})
    print(json.dumps({
        "model": a.model, "prompts": len(prompts), "batch_size": a.batch_size, "max_new_tokens": a.max_new_tokens,
        "torch_threads": torch.get_num_threads(),
        "single_s": round(t_single, 2), "batched_s": round(t_batch, 2),
        "single_tok_per_s": round(n_tokens / t_single, 1), "batched_tok_per_s": round(n_tokens / t_batch, 1),
        "speedup": round(t_single / t_batch, 2), "same_greedy_text": same,
        "same_greedy_share": round(same / len(prompts), 4), "differing": diffs,
        "note": "tokens counted from the unbatched run (same greedy text => same count)",
    }, indent=1))


if __name__ == "__main__":
    main()
