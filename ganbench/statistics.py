"""Statistics over seeds: summaries with intervals, rates with Wilson intervals, pairwise tests
with effect sizes and Holm's correction, and the best group of a ranked metric.

Seed-to-seed spread in GANs is often as large as the gap between methods (Lucic et al. 2018,
"Are GANs Created Equal?"), so a comparison says how sure it is. The rules, and why
(docs/statistics.md):

- **Interval of a mean.** None below :data:`MIN_N` finite values ("n < 3"). From 3 to
  :data:`BOOTSTRAP_FROM` - 1 values, Student's t interval: percentile-type bootstrap intervals
  cover too little at such n. From :data:`BOOTSTRAP_FROM` values, a seeded BCa bootstrap
  (``scipy.stats.bootstrap``), which does not assume a normal mean.
- **Two variants.** Welch's t-test (unequal variances) with Hedges' g, below
  :data:`RANK_TEST_FROM` values per side: with 3 seeds against 3, Mann-Whitney's exact p can
  never go below 0.1. From :data:`RANK_TEST_FROM` values on both sides, the Mann-Whitney U test
  with Cliff's delta, which a single diverged seed cannot dominate.
- **Many pairs.** Holm's step-down correction of the p-values of one family (the pairs of one
  metric within one setting of the other axes).
- **Best group.** The variant with the best mean among those with at least :data:`MIN_N` values,
  and every such variant whose difference from it is not significant after the correction.
  Nobody is marked when fewer than two variants have :data:`MIN_N` values; when no difference
  is significant, every ranked variant is in the group.
- **Best of k trials.** The expected best score of k hyperparameter trials drawn from those run,
  in closed form from the order statistics (Dodge et al. 2019), with a seeded percentile
  bootstrap band over the trials: the budget curves of a search (Lucic et al. 2018).

scipy is imported inside the functions that use it: ``scipy.stats`` takes about a second to
import, which every ganbench command (and every process executor's forkserver) paid at start-up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

#: Below this many finite values there is no interval, no test and no rank.
MIN_N = 3
#: From this many values a mean's interval is a BCa bootstrap instead of Student's t.
BOOTSTRAP_FROM = 20
#: From this many values on both sides two variants are compared by Mann-Whitney U.
RANK_TEST_FROM = 8
#: Resamples of the bootstrap, and its seed: the same values give the same interval.
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Summary:
    """The finite values of one variant and metric: ``n``, mean, sample std (ddof 1), median,
    and the interval of the mean (NaN below :data:`MIN_N`) with the method that made it."""

    n: int
    mean: float
    std: float
    median: float
    ci_low: float
    ci_high: float
    method: str  # "t", "bootstrap", "n < 3" or "constant"

    @property
    def has_interval(self) -> bool:
        return not math.isnan(self.ci_low)


def finite(values: Sequence[float | None]) -> np.ndarray:
    """The values that are numbers and finite (a diverged or failed seed drops out)."""
    return np.array([float(v) for v in values
                     if v is not None and not isinstance(v, bool) and math.isfinite(float(v))])


def summarize(values: Sequence[float | None], confidence: float = 0.95) -> Summary:
    """n, mean, std, median and the ``confidence`` interval of the mean of the finite ``values``."""
    from scipy import stats  # imported when used: see the module docstring
    x = finite(values)
    n = len(x)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan, math.nan, "n < 3")
    mean, median = float(x.mean()), float(np.median(x))
    std = float(x.std(ddof=1)) if n > 1 else math.nan
    if n < MIN_N:
        return Summary(n, mean, std, median, math.nan, math.nan, "n < 3")
    if std == 0.0:  # every seed gave the same number: the interval is that number
        return Summary(n, mean, std, median, mean, mean, "constant")
    if n < BOOTSTRAP_FROM:
        return Summary(n, mean, std, median, *t_interval(x, confidence), "t")
    result = stats.bootstrap((x,), np.mean, confidence_level=confidence, method="BCa",
                             n_resamples=BOOTSTRAP_RESAMPLES, rng=np.random.default_rng(BOOTSTRAP_SEED))
    interval = result.confidence_interval
    return Summary(n, mean, std, median, float(interval.low), float(interval.high), "bootstrap")


def t_interval(x: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The t interval of the mean of ``x`` (two or more finite values); the mean itself when every
    value is the same."""
    from scipy import stats  # imported when used: see the module docstring
    n, mean, std = len(x), float(x.mean()), float(x.std(ddof=1))
    if std == 0.0:
        return mean, mean
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=std / math.sqrt(n))
    return float(low), float(high)


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of the proportion ``k / n`` (NaN, NaN for n = 0)."""
    from scipy import stats  # imported when used: see the module docstring
    if n == 0:
        return math.nan, math.nan
    interval = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


@dataclass(frozen=True)
class Comparison:
    """One pair: the test, its two-sided p-value, the effect size of a over b (positive: a's
    values are larger), and the Holm-adjusted p-value once the family is known."""

    test: str  # "welch-t", "mann-whitney-u", "identical" or "n < 3"
    p: float
    effect_size: float
    effect: str  # "hedges-g" or "cliffs-delta"
    p_adjusted: float = math.nan


def hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    """Hedges' g: Cohen's d with the pooled sample std, times the small-sample correction
    J = 1 - 3 / (4 (n_a + n_b) - 9) (Hedges 1981)."""
    na, nb = len(a), len(b)
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    difference = float(a.mean() - b.mean())
    if pooled == 0.0:
        return 0.0 if difference == 0.0 else math.copysign(math.inf, difference)
    return (1 - 3 / (4 * (na + nb) - 9)) * difference / pooled


def cliffs_delta(a: np.ndarray, b: np.ndarray) -> float:
    """Cliff's delta: P(a > b) - P(a < b) over all pairs of values (Cliff 1993)."""
    signs = np.sign(a[:, None] - b[None, :])
    return float(signs.mean())


def compare(a_values: Sequence[float | None], b_values: Sequence[float | None]) -> Comparison:
    """Two variants' finite values compared by the rule in the module docstring."""
    from scipy import stats  # imported when used: see the module docstring
    a, b = finite(a_values), finite(b_values)
    if min(len(a), len(b)) < MIN_N:
        return Comparison("n < 3", math.nan, math.nan, "hedges-g")
    if min(len(a), len(b)) >= RANK_TEST_FROM:
        p = stats.mannwhitneyu(a, b, alternative="two-sided").pvalue
        return Comparison("mann-whitney-u", float(p), cliffs_delta(a, b), "cliffs-delta")
    if a.std() == 0.0 and b.std() == 0.0:  # no spread on either side: t is undefined
        same = bool(a[0] == b[0])
        return Comparison("identical" if same else "welch-t", 1.0 if same else 0.0, hedges_g(a, b),
                          "hedges-g")
    p = stats.ttest_ind(a, b, equal_var=False).pvalue
    return Comparison("welch-t", float(p), hedges_g(a, b), "hedges-g")


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the order given; NaN stays NaN and
    does not count towards the family's size."""
    indexed = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    m = len(indexed)
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def pairwise(groups: Sequence[Sequence[float | None]]) -> dict[tuple[int, int], Comparison]:
    """Every pair (i, j), i < j, of ``groups`` compared, Holm-adjusted over the family."""
    pairs = {(i, j): compare(groups[i], groups[j])
             for i in range(len(groups)) for j in range(i + 1, len(groups))}
    keys = list(pairs)
    adjusted = holm([pairs[key].p for key in keys])
    return {key: replace(pairs[key], p_adjusted=p) for key, p in zip(keys, adjusted, strict=True)}


def best_group(groups: Sequence[Sequence[float | None]], higher_is_better: bool,
               alpha: float = 0.05) -> set[int]:
    """The indices of ``groups`` that share the best rank: the best mean among the groups with
    at least :data:`MIN_N` finite values, and every such group not significantly different from
    it (Holm over all pairs of the family, at ``alpha``). Empty when fewer than two groups have
    :data:`MIN_N` values."""
    summaries = [summarize(g) for g in groups]
    ranked = [i for i, s in enumerate(summaries) if s.n >= MIN_N]
    if len(ranked) < 2:
        return set()
    sign = 1.0 if higher_is_better else -1.0
    best = max(ranked, key=lambda i: sign * summaries[i].mean)
    comparisons = pairwise([groups[i] for i in ranked])
    position = {index: k for k, index in enumerate(ranked)}
    group = {best}
    for i in ranked:
        if i == best:
            continue
        key = (min(position[i], position[best]), max(position[i], position[best]))
        if not comparisons[key].p_adjusted < alpha:
            group.add(i)
    return group


def _budget_weights(n: int, ks: Sequence[int], replace: bool) -> np.ndarray:
    """(n, len(ks)) weights w[i, j]: the probability that the best of ``ks[j]`` draws from n
    trials is the (i + 1)-th smallest (a tie counts its trials as distinct, which leaves the
    expectation unchanged). Without replacement, a column with k > n is NaN."""
    from scipy import special  # imported when used: see the module docstring
    i = np.arange(1, n + 1, dtype=float)[:, None]
    k = np.asarray(ks, dtype=float)[None, :]
    if replace:
        return (i / n) ** k - ((i - 1) / n) ** k
    # C(i - 1, k - 1) / C(n, k) through log-gamma: exact binomials overflow floats past n ~ 1000
    possible = (i >= k) & (k <= n)
    top = np.where(possible, i - 1, 0.0)
    chosen = np.where(possible, k - 1, 0.0)
    log_w = (special.gammaln(top + 1) - special.gammaln(chosen + 1) - special.gammaln(top - chosen + 1)
             - (special.gammaln(n + 1) - special.gammaln(np.minimum(k, n) + 1)
                - special.gammaln(n - np.minimum(k, n) + 1)))
    weights = np.where(possible, np.exp(log_w), 0.0)
    return np.where(k <= n, weights, math.nan)


def _check_budgets(ks: Sequence[int]) -> list[int]:
    bad = [k for k in ks if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1]
    if bad:
        raise ValueError(f"budget k={bad[0]!r}: give whole numbers of trials, 1 or more")
    return [int(k) for k in ks]


def expected_max(scores: Sequence[float | None], k: int, *, replace: bool = True) -> float:
    """The expected maximum of ``k`` trials drawn at random from the observed trial ``scores``
    (Dodge et al. 2019, "Show Your Work: Improved Reporting of Experimental Results", expected
    validation performance). Over the N finite scores sorted ascending, v_(1) <= ... <= v_(N):

    - with replacement (any k >= 1): sum_i v_(i) [(i/N)^k - ((i-1)/N)^k], Dodge et al.'s form;
    - without replacement (k <= N): sum_i v_(i) C(i-1, k-1) / C(N, k).

    Non-finite scores (None, NaN, inf: a trial that gave no number) drop out first, as in
    :func:`finite`; with none left the result is NaN. k = 1 is the mean; k = N without replacement
    is the maximum. ``ValueError`` for k < 1, or k > N without replacement.
    """
    (k,) = _check_budgets([k])
    x = np.sort(finite(scores))
    if len(x) == 0:
        return math.nan
    if not replace and k > len(x):
        raise ValueError(f"k={k} trials cannot be drawn without replacement from {len(x)} finite scores")
    return float(x @ _budget_weights(len(x), [k], replace)[:, 0])


@dataclass(frozen=True)
class BudgetCurve:
    """The expected best of k trials at each budget in ``ks`` (:func:`expected_max_curve`), with
    a percentile bootstrap band over resampled trials (NaN without a bootstrap, or from no
    finite score; NaN too at k > n without replacement)."""

    ks: tuple[int, ...]
    expected: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    n: int  # the finite trial scores the curve is drawn from
    higher_is_better: bool
    replace: bool
    confidence: float


def expected_max_curve(scores: Sequence[float | None], ks: Sequence[int] | None = None, *,
                       higher_is_better: bool = True, replace: bool = True, bootstrap: int = 1000,
                       seed: int = 0, confidence: float = 0.95) -> BudgetCurve:
    """:func:`expected_max` at each budget in ``ks`` (default 1..N), the expected *best*: for a
    lower-is-better metric, the expected minimum (the scores negated, and the result back).

    The band: ``bootstrap`` resamples of the N finite trial scores with replacement (seeded by
    ``seed``: the same scores give the same band), the curve of each, and the central
    ``confidence`` percentiles at each k. It says how much the curve owes to which trials
    happened to be drawn; ``bootstrap=0`` gives no band.
    """
    x = finite(scores)
    n = len(x)
    budgets = _check_budgets(list(range(1, n + 1)) if ks is None else list(ks))
    nans = tuple(math.nan for _ in budgets)
    if n == 0 or not budgets:
        return BudgetCurve(tuple(budgets), nans, nans, nans, n, higher_is_better, replace, confidence)
    sign = 1.0 if higher_is_better else -1.0
    weights = _budget_weights(n, budgets, replace)
    curve = sign * (np.sort(sign * x) @ weights)
    low, high = nans, nans
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        resampled = np.sort(sign * x[rng.integers(0, n, size=(bootstrap, n))], axis=1)
        curves = sign * (resampled @ weights)
        tail = 50 * (1 - confidence)
        lower, upper = np.percentile(curves, [tail, 100 - tail], axis=0)
        low, high = tuple(float(v) for v in lower), tuple(float(v) for v in upper)
    return BudgetCurve(tuple(budgets), tuple(float(v) for v in curve), low, high, n, higher_is_better,
                       replace, confidence)
