"""How many completions to label: exact binomial planning for a certification.

The minimum n such that, if K failures are observed among n completions, the one-sided exact
(Clopper–Pearson) upper bound at confidence C is below the threshold P. Equivalently the
smallest n with P(X <= K | n, P) < 1 - C (the bound is below P exactly when P is rejected).

>>> min_completions(0.02, 0, 0.95)   # the rule of three says ~3 / 0.02 = 150
149
>>> min_completions(0.02, 2, 0.95)
313
"""

from __future__ import annotations

from scipy import stats

__all__ = ["min_completions"]


def _passes(n: int, threshold: float, failures: int, confidence: float) -> bool:
    return bool(stats.binom.cdf(failures, n, threshold) < 1 - confidence)


def min_completions(threshold: float, failures: int = 0, confidence: float = 0.95) -> int:
    """Smallest n whose exact one-sided upper bound with ``failures`` observed is < ``threshold``.

    P(X <= K | n, P) falls strictly as n grows, so a doubling search then bisection finds it.

    >>> min_completions(0.01, 0, 0.99)
    459
    """
    if not 0 < threshold < 1:
        raise ValueError("threshold must be in (0, 1)")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    if failures < 0:
        raise ValueError("failures must be >= 0")
    lo, hi = failures, max(failures + 1, 1)  # lo always fails (n = K gives bound 1)
    while not _passes(hi, threshold, failures, confidence):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _passes(mid, threshold, failures, confidence):
            hi = mid
        else:
            lo = mid
    return hi
