"""Inference over training runs: is one explainer better than another, with the seed as the unit?

A student's simulability depends on its seed (initialisation, data order) far more than on which
test examples happen to be drawn: resampling test examples with the trained students held fixed
says how sure we are about *these students*, not about the method that trained them. Here:

- a comparison is made over seeds: paired where both arms have the same seeds (the same student
  initialisation and data order, only the explainer differs), Welch-style over all seeds where
  they share fewer than two;
- p-values: an exact two-sided sign-flip permutation test of the mean paired difference (every
  one of the 2^n sign patterns, for n <= `EXACT_MAX` pairs; a paired t-test beyond), or Welch's
  t-test for unpaired arms;
- confidence intervals: t intervals over seeds whose variance adds the test set's share
  (`interval`): seed variance / n (unbiased, over whole-test-set values) + the covariance
  between different seeds' values over bootstrap resamples of the test examples (every seed is
  tested on the same examples, so the test set's own luck is common to them and the spread over
  seeds cannot show it; `example_level`);
- a family of tests is corrected with Holm's step-down method (`holm`);
- `seeds_needed`: seeds per arm for 80% power at the observed difference and seed spread;
- where a difference is not significant, its CI bounds the effect ("within ±X points").

Pure NumPy/SciPy on per-seed numbers; `smat.report` feeds it the cells' predictions, and the
simulation tests in tests/test_statistics.py check its false-positive rate and coverage.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.8
EXACT_MAX = 16  # the exact sign-flip test enumerates 2^n patterns up to here (65,536 at 16)
MAX_SEEDS = 1000  # `seeds_needed` gives up beyond this


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment: the adjusted p-values (each >= its raw one, <= 1, in the
    raw ones' order); rejecting where adjusted < alpha controls the family-wise error rate."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(np.argsort(p, kind="stable")):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def sign_flip_p(differences: Sequence[float]) -> float:
    """Exact two-sided p of a sign-flip permutation test: under no difference each pair's sign
    is a coin toss, so p = the share of the 2^n sign patterns whose |sum| reaches the observed
    one. Its smallest value is 2 / 2^n (0.25 at 3 pairs, 0.031 at 6, 0.002 at 10)."""
    d = np.asarray(differences, dtype=np.float64)
    n = len(d)
    if n > EXACT_MAX:
        raise ValueError(f"{n} pairs: the exact test enumerates at most 2^{EXACT_MAX} patterns")
    signs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2.0 - 1.0
    return float(np.mean(_reaches(np.abs(signs @ d), abs(d.sum()), float(np.abs(d).sum()))))


_TIE = 1e-12  # far below a test set's grain (1 / examples): only float noise is this close


def _reaches(values: np.ndarray, observed: float, scale: float) -> np.ndarray:
    """values >= observed, a tie counting as reached. The statistics are sums of fractions of
    a test set, so exact ties are common, and which side of one a float lands on depends on
    the order the CPU's BLAS sums in: without the tolerance a p moved between machines."""
    return values >= observed - _TIE * max(1.0, scale)


def seeds_needed(
    difference: float, sd_a: float, sd_b: float | None = None, alpha: float = ALPHA
) -> int | None:
    """Seeds per arm for `POWER` power at two-sided level `alpha`: a paired t-test whose
    differences have spread `sd_a` (sd_b None), or Welch's test with spreads sd_a, sd_b; at
    least the pairs an exact sign-flip test needs to reach alpha at all. None: no difference
    to find (0 or not finite), or more than `MAX_SEEDS`."""
    if not math.isfinite(difference) or difference == 0:
        return None
    # A sign-flip test over n pairs cannot go below 2 / 2^n.
    floor = math.ceil(math.log2(2 / alpha)) if sd_b is None else 2
    spread2 = sd_a**2 + (sd_b or 0.0) ** 2
    if spread2 == 0:  # every seed gives the same difference: any test finds it
        return floor
    n = np.arange(2, MAX_SEEDS + 1, dtype=np.float64)
    if sd_b is None:
        df = n - 1
    else:  # Welch-Satterthwaite with n seeds per arm
        df = (n - 1) * spread2**2 / (sd_a**4 + sd_b**4)
    nc = abs(difference) / np.sqrt(spread2 / n)
    crit = stats.t.ppf(1 - alpha / 2, df)
    power = stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)
    enough = np.nonzero(power >= POWER)[0]
    if not len(enough):
        return None
    return max(int(n[enough[0]]), floor)


def simulability_stat(
    task: str, student: np.ndarray, teacher: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """f(idx) -> simulability on the examples `idx`, averaged over the students.

    student: [students, examples(, outputs)] logits (classification: agreement of the argmax
    with the teacher's; regression: Pearson r with the teacher's output); teacher:
    [examples(, outputs)]. idx: [n] example indices (-> a scalar) or [B, n] (-> [B])."""
    if task == "classification":
        agree = (student.argmax(-1) == teacher.argmax(-1)[None]).astype(np.float64)  # [S, N]

        def accuracy(idx):
            r = agree[:, np.atleast_2d(idx)].mean(axis=(0, 2))
            return r if idx.ndim == 2 else r[0]

        return accuracy
    s = student.reshape(student.shape[0], student.shape[1])
    t = teacher.reshape(teacher.shape[0])

    def pearson(idx):
        idx2 = np.atleast_2d(idx)
        x, y = s[:, idx2], t[idx2][None]  # [S, B, n]
        x = x - x.mean(-1, keepdims=True)
        y = y - y.mean(-1, keepdims=True)
        den = np.sqrt((x * x).sum(-1) * (y * y).sum(-1))
        r = np.where(den > 0, (x * y).sum(-1) / np.where(den > 0, den, 1), 0.0).mean(0)
        return r if idx.ndim == 2 else r[0]

    return pearson


def resample(n: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """[samples, n] example indices drawn with replacement: one bootstrap of the test set."""
    return rng.integers(0, n, size=(samples, n))


def replicates(stats: Sequence[Callable[[np.ndarray], np.ndarray]], idx: np.ndarray) -> np.ndarray:
    """[samples, units]: each unit's statistic (a seed's simulability, or a seed pair's
    difference) on every resample of `idx`, all units on the same resamples."""
    out = np.empty((idx.shape[0], len(stats)))
    for start in range(0, idx.shape[0], 100):  # chunks bound the [students, 100, n] temporaries
        chunk = idx[start : start + 100]
        for u, stat in enumerate(stats):
            out[start : start + 100, u] = stat(chunk)
    return out


@dataclasses.dataclass(frozen=True)
class ExampleLevel:
    """A bootstrap over test examples with the students fixed: how sure we are about *these
    students* (not about the method that trained them), and the test set's share of a seed CI.

    shared_variance: the part of the estimate's variance that comes from the test set being a
    sample and that seeds cannot show, because every seed is tested on the same examples: the
    covariance between different units' statistics over the resamples (a unit's own example
    noise is already in the spread over seeds, so it is not counted twice)."""

    estimate: float
    ci_low: float
    ci_high: float
    shared_variance: float
    p: float | None = None  # two-sided, of no difference


def example_level(
    observed: Sequence[float], boot: np.ndarray, weights: Sequence[float], difference: bool = False
) -> ExampleLevel:
    """The estimate sum_u w_u x_u of units' statistics (`observed`: on the whole test set;
    `boot`: [samples, units] replicates): its percentile CI over the resamples, the shared
    variance, and for a difference the p of 0 (how often a resampled difference lies as far
    from the observed one as 0 does)."""
    w = np.asarray(weights, dtype=np.float64)
    estimate = float(np.dot(observed, w))
    if abs(estimate) < _TIE:  # an exact tie, not float noise whose sign moves between CPUs
        estimate = 0.0
    dist = boot @ w
    p = None
    if difference:
        far = _reaches(np.abs(dist - estimate), abs(estimate), float(np.abs(dist).max()))
        p = float((1 + np.sum(far)) / (1 + len(dist)))
    cov = np.atleast_2d(np.cov(boot, rowvar=False)) if boot.shape[1] > 1 else np.zeros((1, 1))
    shared = float(w @ cov @ w - np.sum(w**2 * np.diag(cov)))
    low, high = np.percentile(dist, [2.5, 97.5])
    return ExampleLevel(estimate, float(low), float(high), max(shared, 0.0), p)


def interval(
    estimate: float, seed_variance: float, example_variance: float, df: float
) -> tuple[float, float]:
    """The 95% t interval around `estimate` with variance seed_variance + example_variance
    (both of the estimate, i.e. already divided by the number of seeds)."""
    half = stats.t.ppf(1 - ALPHA / 2, df) * math.sqrt(seed_variance + example_variance)
    return float(estimate - half), float(estimate + half)


@dataclasses.dataclass(frozen=True)
class Mean:
    """An arm's mean over seeds with its seed-level 95% CI (None with one seed)."""

    mean: float
    sd: float | None  # over seeds
    ci_low: float | None
    ci_high: float | None
    seeds: int


def mean(values: Sequence[float], example_variance: float = 0.0) -> Mean:
    """Mean over seeds; CI from the seeds' spread and the test set's share
    (`example_variance`: `ExampleLevel.shared_variance` of the mean)."""
    v = np.asarray(values, dtype=np.float64)
    m = float(v.mean())
    if len(v) < 2:
        return Mean(m, None, None, None, len(v))
    sd = float(v.std(ddof=1))
    low, high = interval(m, sd**2 / len(v), example_variance, len(v) - 1)
    return Mean(m, sd, low, high, len(v))


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Arm a minus arm b over seeds.

    Attributes:
      difference: mean of a minus mean of b (paired: mean of the per-seed differences).
      ci_low, ci_high: seed-level 95% CI (None where a test cannot be made).
      p: two-sided p (None: an arm has one seed, no seed-level test).
      method: "sign-flip" (exact, paired), "paired t", "Welch t", or None.
      paired: whether the seeds were paired.
      seeds_a, seeds_b: the seeds each side contributed.
      sd: the spread that the power line uses (paired differences', or a's for Welch).
      sd_b: b's spread (Welch only).
      seeds_needed: seeds per arm for 80% power at this difference and spread (None: none
        would, or no test).
    """

    difference: float
    ci_low: float | None
    ci_high: float | None
    p: float | None
    method: str | None
    paired: bool
    seeds_a: tuple[int, ...]
    seeds_b: tuple[int, ...]
    sd: float | None = None
    sd_b: float | None = None
    seeds_needed: int | None = None

    def bound(self) -> float | None:
        """How far from 0 the difference can lie at 95%: max |CI end| (None without a CI)."""
        if self.ci_low is None or self.ci_high is None:
            return None
        return max(abs(self.ci_low), abs(self.ci_high))

    def smallest_p(self) -> float | None:
        """The smallest p this test can give at its number of seeds (an exact sign-flip test
        over n pairs: 2 / 2^n), None where the test has no such floor."""
        return 2.0 / 2 ** len(self.seeds_a) if self.method == "sign-flip" else None


def compare(a: dict[int, float], b: dict[int, float], example_variance: float = 0.0) -> Comparison:
    """Arm a against arm b, each given as {seed: simulability}. Paired on the seeds both have
    when they share two or more (a seed only one side has would be a difference of students,
    not explainers), else Welch over all seeds. `example_variance`: the test set's share of
    the variance of the difference (`ExampleLevel.shared_variance`; added to the CI only)."""
    shared = sorted(set(a) & set(b))
    if len(shared) >= 2:
        d = np.asarray([a[s] - b[s] for s in shared], dtype=np.float64)
        n = len(d)
        diff = float(d.mean())
        sd = float(d.std(ddof=1))
        if n <= EXACT_MAX:
            p, method = sign_flip_p(d), "sign-flip"
        else:
            p = float(stats.ttest_1samp(d, 0.0).pvalue) if sd > 0 else float(diff == 0)
            method = "paired t"
        low, high = interval(diff, sd**2 / n, example_variance, n - 1)
        return Comparison(
            diff,
            low,
            high,
            p,
            method,
            True,
            tuple(shared),
            tuple(shared),
            sd,
            None,
            seeds_needed(diff, sd),
        )
    va, vb = np.asarray(list(a.values()), float), np.asarray(list(b.values()), float)
    diff = float(va.mean() - vb.mean())
    seeds = tuple(sorted(a)), tuple(sorted(b))
    if len(va) < 2 or len(vb) < 2:
        return Comparison(diff, None, None, None, None, False, *seeds)
    sa, sb = float(va.std(ddof=1)), float(vb.std(ddof=1))
    qa, qb = sa**2 / len(va), sb**2 / len(vb)
    if qa + qb > 0:
        df = (qa + qb) ** 2 / (qa**2 / (len(va) - 1) + qb**2 / (len(vb) - 1))
        p = float(stats.ttest_ind(va, vb, equal_var=False).pvalue)
    else:  # every seed identical on both sides
        df, p = float(len(va) + len(vb) - 2), float(diff == 0)
    low, high = interval(diff, qa + qb, example_variance, df)
    return Comparison(
        diff, low, high, p, "Welch t", False, *seeds, sa, sb, seeds_needed(diff, sa, sb)
    )
