"""`analyze`: all annotators' rankings -> per-explainer TrueSkill ratings with uncertainty.

Every ranked answer is one free-for-all match among the explainers (ties are draws). TrueSkill
gives each explainer a skill μ with uncertainty σ; since its updates depend on the order of the
matches, the 95% intervals of μ and of each explainer's place come from a bootstrap that
resamples answers and shuffles their order. Mean rank, share of first places and agreement
between annotators (mean Kendall τ-b on examples ranked by several people) are reported too.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import os
from collections.abc import Sequence

import numpy as np

from smat.annotate.store import RANKED, Answer
from smat.annotate.study import Study
from smat.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Rating:
    explainer: str
    mu: float
    sigma: float
    mu_interval: tuple[float, float]  # 95% bootstrap interval
    place: int  # 1 = best, by μ
    place_interval: tuple[int, int]  # 95% bootstrap interval
    mean_rank: float
    first_share: float  # fraction of answers ranking it first (ties included)
    answers: int


def _environment(rankings: Sequence[dict[str, int]]):
    """TrueSkill's default scale with the draw probability seen in the data (ties are common
    in rankings of explanations; the default 10% would under-weigh them)."""
    import trueskill

    pairs = ties = 0
    for r in rankings:
        for a, b in itertools.combinations(r.values(), 2):
            pairs, ties = pairs + 1, ties + (a == b)
    return trueskill.TrueSkill(draw_probability=float(np.clip(ties / max(pairs, 1), 0.01, 0.9)))


def trueskill_ratings(
    rankings: Sequence[dict[str, int]], explainers: Sequence[str], env=None
) -> dict[str, tuple[float, float]]:
    """(μ, σ) per explainer after playing `rankings` (explainer -> rank) in order."""
    env = env or _environment(rankings)
    ratings = {e: env.create_rating() for e in explainers}
    for r in rankings:
        names = list(r)
        rated = env.rate([(ratings[e],) for e in names], ranks=[r[e] - 1 for e in names])
        for e, (new,) in zip(names, rated, strict=True):
            ratings[e] = new
    return {e: (float(x.mu), float(x.sigma)) for e, x in ratings.items()}


def _places(mu: dict[str, float]) -> dict[str, int]:
    order = sorted(mu, key=lambda e: -mu[e])
    return {e: i + 1 for i, e in enumerate(order)}


def rate(
    rankings: Sequence[dict[str, int]],
    explainers: Sequence[str],
    bootstrap: int = 200,
    seed: int = 0,
) -> list[Rating]:
    """Ratings of every explainer, best first (see the module docstring)."""
    if not rankings:
        raise ConfigError("no ranked answers yet: annotate some examples first")
    env = _environment(rankings)
    point = trueskill_ratings(rankings, explainers, env)
    rng = np.random.default_rng(seed)
    mus = {e: [] for e in explainers}
    places = {e: [] for e in explainers}
    for _ in range(bootstrap):
        sample = [rankings[i] for i in rng.integers(0, len(rankings), len(rankings))]
        mu = {e: m for e, (m, _) in trueskill_ratings(sample, explainers, env).items()}
        for e, p in _places(mu).items():
            mus[e].append(mu[e])
            places[e].append(p)
    point_places = _places({e: m for e, (m, _) in point.items()})
    out = []
    for e in explainers:
        ranks = [r[e] for r in rankings if e in r]
        mu_lo, mu_hi = np.percentile(mus[e], [2.5, 97.5]) if bootstrap else (np.nan, np.nan)
        p_lo, p_hi = np.percentile(places[e], [2.5, 97.5]) if bootstrap else (np.nan, np.nan)
        out.append(
            Rating(
                e,
                point[e][0],
                point[e][1],
                (float(mu_lo), float(mu_hi)),
                point_places[e],
                (int(np.floor(p_lo)), int(np.ceil(p_hi))) if bootstrap else (0, 0),
                float(np.mean(ranks)),
                float(np.mean([r == 1 for r in ranks])),
                len(ranks),
            )
        )
    return sorted(out, key=lambda r: r.place)


def agreement(answers: Sequence[Answer]) -> tuple[float, int]:
    """Mean Kendall τ-b between two annotators' rankings of the same example, and how many
    such pairs there were (NaN, 0 when no example was ranked twice)."""
    from scipy.stats import kendalltau

    by_example: dict[str, list[dict[str, int]]] = {}
    for a in answers:
        if a.status == RANKED:
            by_example.setdefault(a.example_id, []).append(a.ranking)
    taus = []
    for rs in by_example.values():
        for x, y in itertools.combinations(rs, 2):
            names = sorted(x)
            tau = kendalltau([x[e] for e in names], [y[e] for e in names]).statistic
            if np.isfinite(tau):
                taus.append(float(tau))
    return (float(np.mean(taus)) if taus else float("nan")), len(taus)


def position_ranks(answers: Sequence[Answer]) -> list[float]:
    """Mean rank given to the explanation shown first, second, ... on screen."""
    ranks = [[a.ranking[e] for e in a.shown_order] for a in answers if a.status == RANKED]
    return [float(r) for r in np.mean(ranks, 0)] if ranks else []


def _write_plot(path: str, ratings: list[Rating]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 0.55 * len(ratings) + 1.2))
    ys = np.arange(len(ratings))[::-1]
    mu = np.array([r.mu for r in ratings])
    lo = mu - np.array([r.mu_interval[0] for r in ratings])
    hi = np.array([r.mu_interval[1] for r in ratings]) - mu
    ax.errorbar(mu, ys, xerr=[np.maximum(lo, 0), np.maximum(hi, 0)], fmt="o", capsize=4)
    ax.set_yticks(ys, [r.explainer for r in ratings])
    ax.set_xlabel("TrueSkill μ (95% bootstrap interval)")
    ax.set_title("Which explanation do annotators prefer?")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def analyze(study: Study, out: str | None = None, bootstrap: int = 200, seed: int = 0) -> dict:
    """Writes `analysis.md`, `ratings.csv`, `answers.csv` and `ratings.png` to `out`
    (default `<study>/analysis`); returns the ratings and counts."""
    out = out or os.path.join(study.folder, "analysis")
    answers = study.store().answers()
    ranked = [a for a in answers if a.status == RANKED]
    ratings = rate([a.ranking for a in ranked], study.explainers, bootstrap, seed)
    tau, pairs = agreement(answers)
    by_position = position_ranks(ranked)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "answers.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "annotator",
                "example",
                "status",
                "explainer",
                "rank",
                "shown_position",
                "revision",
                "submitted_at",
            ]
        )
        for a in answers:
            for pos, e in enumerate(a.shown_order, start=1):
                rank = a.ranking[e] if a.ranking else ""
                w.writerow(
                    [a.annotator, a.example_id, a.status, e, rank, pos, a.revision, a.submitted_at]
                )
    fields = [f.name for f in dataclasses.fields(Rating)]
    with open(os.path.join(out, "ratings.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for r in ratings:
            w.writerow([getattr(r, name) for name in fields])
    _write_plot(os.path.join(out, "ratings.png"), ratings)
    annotators = sorted({a.annotator for a in answers})
    lines = [
        f"# Explanation ranking study: {os.path.basename(study.folder.rstrip(os.sep))}",
        "",
        f"{len(ranked)} rankings ({len(answers) - len(ranked)} skipped) of {len(study.examples)} "
        f"examples by {len(annotators)} annotators; explanations shown in a shuffled order "
        "without names. Source run: " + (study.source or "-") + ".",
        "",
        "| place | explainer | TrueSkill μ ± σ | μ 95% CI | place 95% CI | mean rank | "
        "ranked first | answers |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in ratings:
        lines.append(
            f"| {r.place} | {r.explainer} | {r.mu:.2f} ± {r.sigma:.2f} | "
            f"[{r.mu_interval[0]:.2f}, {r.mu_interval[1]:.2f}] | "
            f"{r.place_interval[0]}–{r.place_interval[1]} | {r.mean_rank:.2f} | "
            f"{100 * r.first_share:.0f}% | {r.answers} |"
        )
    lines += [
        "",
        f"Agreement between annotators: mean Kendall τ-b {tau:.2f} over {pairs} pairs of "
        "rankings of the same example."
        if pairs
        else "No example was ranked by two annotators (agreement needs overlap).",
        "Mean rank by position on screen (a check for position bias; the order is shuffled): "
        + ", ".join(f"{chr(65 + i)} {r:.2f}" for i, r in enumerate(by_position))
        + ".",
        f"Intervals: {bootstrap} bootstrap resamples of the answers, each played in a random "
        "order (TrueSkill depends on the order of its matches).",
        "",
        "![ratings](ratings.png)",
        "",
    ]
    with open(os.path.join(out, "analysis.md"), "w") as f:
        f.write("\n".join(lines))
    return {
        "ratings": ratings,
        "answers": len(answers),
        "ranked": len(ranked),
        "agreement": tau,
        "out": out,
    }
