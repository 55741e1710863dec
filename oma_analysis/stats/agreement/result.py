"""The one result type every agreement coefficient returns.

>>> r = AgreementResult("alpha", "nominal", 0.8, 0.7, 0.9, n_units=10, n_pairable=9)
>>> r.to_dict()["value"], r.kappa_paradox
(0.8, False)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

__all__ = ["AgreementResult", "PARADOX_PREVALENCE", "is_kappa_paradox"]

#: Below this share of ratings in the rarest category kappa/alpha can be low despite high raw
#: agreement (Feinstein & Cicchetti 1990), so AC1 and positive agreement are shown beside them.
PARADOX_PREVALENCE = 0.10


@dataclass(frozen=True)
class AgreementResult:
    metric: str
    level: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n_units: int = 0
    n_pairable: int = 0
    se: float | None = None
    ci_method: str | None = None  # "bootstrap-percentile:N" or "analytic-t"
    weights: str = "identity"
    question: str | None = None
    n_ratings: int = 0
    prevalence: dict[str, float] = field(default_factory=dict)
    kappa_paradox: bool = False
    pa: float | None = None  # observed (weighted) agreement, where the coefficient has one
    pe: float | None = None  # chance agreement
    # AC1 and positive agreement on the rarest category, set beside kappa/alpha under the paradox
    companions: dict[str, float | str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready: NaN becomes None."""
        return {k: _clean(v) for k, v in asdict(self).items()}


def is_kappa_paradox(prevalence: dict[str, float]) -> bool:
    """True when the rarest *used* category holds < 10 % of the ratings, or only one is used.

    >>> is_kappa_paradox({"yes": 0.04, "no": 0.96}), is_kappa_paradox({"yes": 0.4, "no": 0.6})
    (True, False)
    """
    used = [p for p in prevalence.values() if p > 0]
    return len(used) < 2 or min(used) < PARADOX_PREVALENCE


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v
