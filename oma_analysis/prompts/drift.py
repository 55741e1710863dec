"""Are two rounds' prompts comparable? (written by contractors, sampled, imported: any records)

The proposal's worry about prompts written at evaluation time is that "it's maybe then hard to
have the distribution be IID between evaluations at different times". So a rate change between
two evaluations is only read as a model change once the prompts are shown comparable. Four
two-sample tests, Holm-corrected together (statsmodels) so the family's false-alarm rate stays at
``alpha``:

- task types: chi-square test of homogeneity on the 2 x K table (scipy), K = types seen;
- constraint counts per prompt: Mann-Whitney U (scipy);
- lengths (words of the user turns): two-sample Kolmogorov-Smirnov (scipy);
- text: maximum mean discrepancy between MiniLM sentence embeddings (RBF kernel, median
  bandwidth), p-value by permutation. scipy/statsmodels have no multivariate two-sample test, so
  the statistic is ours; its permutation p-value is checked against ``scipy.stats.permutation_test``
  in the tests.

The verdict is in plain words: "comparable", or "shifted in task types (code 100% vs 6%), ...".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oma_analysis.prompts.records import PromptRecord

ALPHA = 0.05
PERMUTATIONS = 999


def words(rec: PromptRecord) -> int:
    return len(rec.user_text.split())


def embed(texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """Unit-length all-MiniLM-L6-v2 sentence embeddings (mean pooling, as sentence-transformers)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from oma_analysis.classifier.model import base_model_path

    path = base_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            enc = tok(list(texts[i:i + batch_size]), padding=True, truncation=True, max_length=256,
                      return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(vec, dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 384))


def mmd2(k: np.ndarray, n_a: int) -> float:
    """Unbiased squared MMD from a pooled kernel matrix whose first ``n_a`` rows are sample A."""
    a, b = k[:n_a, :n_a], k[n_a:, n_a:]
    m, n = n_a, k.shape[0] - n_a
    return float((a.sum() - np.trace(a)) / (m * (m - 1)) + (b.sum() - np.trace(b)) / (n * (n - 1))
                 - 2 * k[:n_a, n_a:].mean())


def rbf_kernel(x: np.ndarray) -> np.ndarray:
    d2 = np.maximum(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1), 0.0)
    off = d2[np.triu_indices(len(x), 1)]
    bw = float(np.median(off)) if off.size and np.median(off) > 0 else 1.0  # median heuristic
    return np.exp(-d2 / bw)


def mmd_test(x: np.ndarray, y: np.ndarray, permutations: int = PERMUTATIONS, seed: int = 0) -> tuple[float, float]:
    """(MMD^2, permutation p-value) with the (1 + #{perm >= observed}) / (1 + permutations) rule."""
    pooled = np.concatenate([x, y])
    k = rbf_kernel(pooled)
    obs = mmd2(k, len(x))
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(permutations):
        idx = rng.permutation(len(pooled))
        hits += mmd2(k[np.ix_(idx, idx)], len(x)) >= obs
    return obs, (1 + hits) / (1 + permutations)


@dataclass
class Shift:
    """One comparison: each test's row and the plain-words verdict."""

    n_a: int
    n_b: int
    tests: list[dict[str, Any]] = field(default_factory=list)
    alpha: float = ALPHA

    @property
    def shifted(self) -> list[str]:
        return [t["aspect"] for t in self.tests if t["reject"]]

    @property
    def comparable(self) -> bool:
        return not self.shifted

    @property
    def verdict(self) -> str:
        if self.comparable:
            return (f"comparable: no difference in task types, constraint counts, lengths or text "
                    f"(Holm-corrected, alpha {self.alpha}; {self.n_a} vs {self.n_b} prompts)")
        return "shifted in " + "; ".join(f"{t['aspect']} ({t['summary']})" for t in self.tests if t["reject"])

    def to_dict(self) -> dict[str, Any]:
        return {"n_a": self.n_a, "n_b": self.n_b, "alpha": self.alpha, "comparable": self.comparable,
                "verdict": self.verdict, "tests": self.tests}


def _type_summary(a: Counter, b: Counter, n_a: int, n_b: int) -> str:
    diffs = sorted(set(a) | set(b), key=lambda t: -abs(a[t] / n_a - b[t] / n_b))[:2]
    return ", ".join(f"{t} {a[t] / n_a:.0%} vs {b[t] / n_b:.0%}" for t in diffs)


def compare_rounds(a: Sequence[PromptRecord], b: Sequence[PromptRecord], *, alpha: float = ALPHA,
                   embeddings: tuple[np.ndarray, np.ndarray] | None = None, permutations: int = PERMUTATIONS,
                   seed: int = 0) -> Shift:
    """Compare round ``a`` with round ``b``; ``embeddings`` (rows in record order) skips the encoder."""
    from scipy.stats import chi2_contingency, ks_2samp, mannwhitneyu
    from statsmodels.stats.multitest import multipletests

    from oma_analysis import OmaError

    if len(a) < 2 or len(b) < 2:
        raise OmaError(f"comparing rounds needs at least 2 prompts on each side (got {len(a)} and {len(b)})")
    tests: list[dict[str, Any]] = []
    ta, tb = Counter(r.task_type for r in a), Counter(r.task_type for r in b)
    types = sorted(set(ta) | set(tb))
    # Cochran's rule: types too rare for the chi-square approximation (pooled expected count < 5
    # per side) are tested together as one "rare" column, or the test loses all its power.
    expected = {t: (ta[t] + tb[t]) * min(len(a), len(b)) / (len(a) + len(b)) for t in types}
    common = [t for t in types if expected[t] >= 5]
    table = [[ta[t] for t in common], [tb[t] for t in common]]
    rare = [t for t in types if t not in common]
    if rare:
        table[0].append(sum(ta[t] for t in rare))
        table[1].append(sum(tb[t] for t in rare))
    if len(table[0]) > 1:
        chi2, p, dof, _ = chi2_contingency(np.array(table))
        stat = float(chi2)
    else:
        p, stat, dof = 1.0, 0.0, 0
    tvd = 0.5 * sum(abs(ta[t] / len(a) - tb[t] / len(b)) for t in types)
    tests.append({"aspect": "task types", "test": "chi-square homogeneity", "statistic": stat, "df": int(dof),
                  "p": float(p), "effect": round(tvd, 4), "effect_name": "total variation",
                  "columns": common + (["(rare types)"] if rare else []),
                  "summary": _type_summary(ta, tb, len(a), len(b))})
    ca, cb = [len(r.constraints.ids) for r in a], [len(r.constraints.ids) for r in b]
    if len(set(ca) | set(cb)) > 1:
        u = mannwhitneyu(ca, cb, alternative="two-sided")
        stat, p = float(u.statistic), float(u.pvalue)
    else:
        stat, p = float(len(a) * len(b) / 2), 1.0
    tests.append({"aspect": "constraint counts", "test": "Mann-Whitney U", "statistic": stat, "p": p,
                  "effect": round(float(np.mean(ca) - np.mean(cb)), 4), "effect_name": "mean difference",
                  "summary": f"mean {np.mean(ca):.1f} vs {np.mean(cb):.1f} constraints"})
    la, lb = [words(r) for r in a], [words(r) for r in b]
    ks = ks_2samp(la, lb)
    tests.append({"aspect": "lengths", "test": "Kolmogorov-Smirnov", "statistic": float(ks.statistic),
                  "p": float(ks.pvalue), "effect": float(ks.statistic), "effect_name": "KS distance",
                  "summary": f"median {np.median(la):.0f} vs {np.median(lb):.0f} words"})
    if embeddings is None:
        ea, eb = embed([r.user_text for r in a]), embed([r.user_text for r in b])
    else:
        ea, eb = embeddings
    stat, p = mmd_test(ea, eb, permutations=permutations, seed=seed)
    tests.append({"aspect": "text", "test": f"MMD on MiniLM embeddings ({permutations} permutations)",
                  "statistic": stat, "p": p, "effect": round(stat, 6), "effect_name": "MMD^2",
                  "summary": f"MMD^2 {stat:.4f}, what the prompts are about differs"})
    reject, p_holm, _, _ = multipletests([t["p"] for t in tests], alpha=alpha, method="holm")
    for t, r, ph in zip(tests, reject, p_holm, strict=True):
        t["p_holm"], t["reject"] = float(ph), bool(r)
    return Shift(len(a), len(b), tests, alpha)


def render_markdown(shift: Shift, name_a: str = "A", name_b: str = "B") -> str:
    lines = [f"# Prompt distribution: {name_a} vs {name_b}", "", f"**{shift.verdict}**", "",
             "| aspect | test | statistic | p | p (Holm) | shifted | summary |", "|---|---|---|---|---|---|---|"]
    for t in shift.tests:
        lines.append(f"| {t['aspect']} | {t['test']} | {t['statistic']:.4g} | {t['p']:.4g} | {t['p_holm']:.4g} | "
                     f"{'yes' if t['reject'] else 'no'} | {t['summary']} |")
    lines += ["", "A rate change between two evaluations whose prompts shifted may be a prompt change, "
              "not a model change."]
    return "\n".join(lines) + "\n"
