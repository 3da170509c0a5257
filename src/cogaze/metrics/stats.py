"""Bootstrap confidence intervals and the paired approximate-randomisation test.

Every corpus metric is expressed as a :class:`CorpusMetric`: per-report sufficient statistics
``stats`` (n, k) and an ``aggregate`` mapping summed statistics (m, k) to m metric values. Corpus
BLEU sums n-gram counts and lengths, METEOR sums its alignment statistics, ROUGE-L / CIDEr-D sum the
per-report score and a count, clinical efficacy sums per-class TP/FP/FN. Resampling then needs only a
weight vector per replicate (how often each report is drawn), which keeps 1,000 replicates cheap and
exactly consistent with the corpus value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Aggregate = Callable[[np.ndarray], np.ndarray]


@dataclass
class CorpusMetric:
    """A corpus-level metric computable from summed per-report statistics."""

    name: str
    stats: np.ndarray
    aggregate: Aggregate

    def value(self, weights: np.ndarray | None = None) -> float:
        """The corpus value (optionally with per-report weights, e.g. bootstrap counts)."""
        w = np.ones(len(self.stats)) if weights is None else np.asarray(weights, dtype=np.float64)
        return float(self.aggregate((w @ self.stats)[None, :])[0])

    def values(self, weights: np.ndarray) -> np.ndarray:
        """Values for a batch of weight vectors (m, n)."""
        return np.asarray(self.aggregate(np.asarray(weights, dtype=np.float64) @ self.stats), dtype=np.float64)


def bootstrap_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) draw counts of ``n_boot`` bootstrap resamples of ``n`` report pairs."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    weights = np.zeros((n_boot, n), dtype=np.float64)
    for b in range(n_boot):
        weights[b] = np.bincount(idx[b], minlength=n)
    return weights


def bootstrap_ci(
    metrics: Sequence[CorpusMetric], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CIs (resampling report pairs with replacement, fixed seed) per metric."""
    if not metrics:
        return {}
    n = len(metrics[0].stats)
    weights = bootstrap_weights(n, n_boot, seed)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    out: dict[str, tuple[float, float]] = {}
    for m in metrics:
        vals = m.values(weights)
        out[m.name] = (float(np.quantile(vals, lo_q)), float(np.quantile(vals, hi_q)))
    return out


@dataclass
class PairedTest:
    """Result of a paired approximate-randomisation test on one metric."""

    name: str
    a: float
    b: float
    delta: float
    p_value: float


def paired_randomisation_test(
    a: CorpusMetric, b: CorpusMetric, n_perm: int = 1000, seed: int = 0
) -> PairedTest:
    """Two-sided paired approximate-randomisation test of metric(B) - metric(A).

    Each replicate swaps the two systems' outputs of every report pair with probability 1/2 and
    recomputes both corpus values. p = (1 + #{|delta_perm| >= |delta_obs|}) / (1 + n_perm), so a system
    compared with itself gets p = 1 exactly.
    """
    if a.stats.shape != b.stats.shape:
        raise ValueError(f"{a.name}: the two systems cover different report sets")
    n = len(a.stats)
    rng = np.random.default_rng(seed)
    swap = rng.integers(0, 2, size=(n_perm, n)).astype(np.float64)
    va, vb = a.value(), b.value()
    delta = vb - va
    sum_a, sum_b = a.stats.sum(0), b.stats.sum(0)
    # Swapped sums: A' = A + swap @ (B - A), B' = B - swap @ (B - A).
    moved = swap @ (b.stats - a.stats)
    perm_a = a.aggregate(sum_a[None, :] + moved)
    perm_b = b.aggregate(sum_b[None, :] - moved)
    perm_delta = np.asarray(perm_b) - np.asarray(perm_a)
    # Tolerance: float sums in a different order must not turn a tie into a miss.
    tol = 1e-12 * max(1.0, abs(delta))
    count = int(np.sum(np.abs(perm_delta) >= abs(delta) - tol))
    return PairedTest(a.name, va, vb, delta, (1 + count) / (1 + n_perm))


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """(mean, half-width of the Student-t confidence interval) over ``values``.

    The half-width is NaN for fewer than 2 values (no spread can be estimated); ValueError when empty.
    The one definition of a mean-with-CI used by pages, ablations and gaze tables.
    """
    import math

    from scipy import stats as sps

    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(arr.mean())
    if arr.size < 2:
        return mean, float("nan")
    sem = float(arr.std(ddof=1)) / math.sqrt(arr.size)
    return mean, float(sps.t.ppf(0.5 + confidence / 2, arr.size - 1) * sem)


def format_number(value: float, decimals: int = 3) -> str:
    """``value`` with ``decimals`` places and thousands separators, never a negative zero ("-0.000")."""
    text = f"{value:,.{decimals}f}"
    if text.startswith("-") and not any(c in "123456789" for c in text):
        text = text[1:]
    return text


def format_mean_ci(mean: float, lo: float, hi: float, decimals: int = 3) -> str:
    """"mean [lo, hi]" (just the mean when the interval is not finite: one value gives none; "n/a"
    for a non-finite mean), with :func:`format_number`'s rules."""
    import math

    if not math.isfinite(mean):
        return "n/a"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return format_number(mean, decimals)
    return f"{format_number(mean, decimals)} [{format_number(lo, decimals)}, {format_number(hi, decimals)}]"
