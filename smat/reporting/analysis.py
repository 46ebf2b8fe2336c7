"""A report's numbers: per arm the seed-level mean, CI and spread, and its family of tests
(which arms are compared with which, Holm-adjusted together; smat.statistics does the maths)."""

from __future__ import annotations

from typing import Any

import numpy as np

from smat import statistics
from smat.reporting.groups import Group

LEARNED = "smat"  # the label of the main SMAT cells (highlighted in the plot)
UNIFORM = "attention_all"  # the label of the uniform head mix
MOVEMENT = (
    "phi/distance_from_uniform",
    "phi/nonzero_heads",
    "meta/steps",
    "psi/distance_from_uniform",
)


def summarise(groups: list[Group], samples: int, seed: int = 0) -> list[dict[str, Any]]:
    """One row per group: per-seed values, the seed-level mean and CI, spread, median/IQR, and
    the example-bootstrap CI of these students."""
    rows = []
    for g in groups:
        values = np.asarray(list(g.per_seed().values()))
        examples = None
        if g.has_predictions:
            idx = statistics.resample(g.teacher.shape[0], samples, np.random.default_rng(seed))
            boot = statistics.replicates(g.seed_stats(), idx)
            weights = np.full(len(values), 1 / len(values))
            examples = statistics.example_level(values, boot, weights)
        m = statistics.mean(values, examples.shared_variance if examples else 0.0)
        q25, median, q75 = np.percentile(values, [25, 50, 75])
        rows.append(
            {
                "num_examples": g.num_examples,
                "explainer": g.explainer,
                "kind": g.kind,
                "seeds": len(g.seeds),
                "seed_list": list(g.seeds),
                "students_per_seed": g.students_per_seed,
                "mean": m.mean,
                "ci_low": m.ci_low,
                "ci_high": m.ci_high,
                "sd": m.sd,
                "worst": float(values.min()),
                "median": float(median),
                "q25": float(q25),
                "q75": float(q75),
                "examples_ci_low": examples.ci_low if examples else None,
                "examples_ci_high": examples.ci_high if examples else None,
                "per_seed": [float(v) for v in values],
                "test_examples": g.teacher.shape[0] if g.has_predictions else None,
                "val_mean": g.summary_mean(f"best_{g.monitor}"),
                **_cost(g.costs),
                "note": g.note,
                **{k: g.summary_mean(k) if g.kind == "learned" else None for k in MOVEMENT},
            }
        )
    for r in rows:  # a learned arm less steady than the best static one
        best = best_static(rows, r["num_examples"])
        r["spread_flag"] = bool(
            r["kind"] == "learned"
            and best is not None
            and r["sd"] is not None
            and best["sd"] is not None
            and r["sd"] > best["sd"]
        )
    return rows


def _cost(costs: list[float | None]) -> dict[str, float | None]:
    """A run's cost from its seeds' wall times: the fastest seed's (`cost_s`), since every seed
    does the same work and a shared, loaded or paused machine only adds time (why `timeit`
    reports the minimum), and the median. None where a seed's cost is unknown."""
    if not costs or any(c is None for c in costs):
        return {"cost_s": None, "cost_median_s": None}
    return {"cost_s": float(np.min(costs)), "cost_median_s": float(np.median(costs))}


def best_static(rows, n: int) -> dict[str, Any] | None:
    """The static explainer with the highest mean validation simulability at size n (by test
    mean only where no cell has a validation value: then say so)."""
    static = [r for r in rows if r["num_examples"] == n and r["kind"] == "static"]
    if not static:
        return None
    if all(r["val_mean"] is not None for r in static):
        return max(static, key=lambda r: r["val_mean"])
    return {**max(static, key=lambda r: r["mean"]), "selected_on_test": True}


def compare(a: Group, b: Group, samples: int, seed: int = 0) -> dict[str, Any]:
    """a minus b over seeds (paired where they share two or more), with the example-level
    numbers of these students beside it (None where predictions are lost)."""
    shared = sorted(set(a.seeds) & set(b.seeds))
    if not (a.has_predictions and b.has_predictions):
        return {
            "num_examples": a.num_examples,
            "explainer": a.explainer,
            "baseline": b.explainer,
            "comparison": statistics.compare(a.per_seed(), b.per_seed()),
            "examples": None,
        }
    if len(shared) >= 2:  # paired (as statistics.compare): a unit is a seed's difference
        pairs = zip(a.on(shared).seed_stats(), b.on(shared).seed_stats(), strict=True)
        units = [lambda idx, x=x, y=y: x(idx) - y(idx) for x, y in pairs]
        weights = np.full(len(units), 1 / len(units))
    else:  # Welch: every seed of both arms
        units = a.seed_stats() + b.seed_stats()
        weights = np.r_[
            np.full(len(a.seeds), 1 / len(a.seeds)), np.full(len(b.seeds), -1 / len(b.seeds))
        ]
    n = a.teacher.shape[0]
    observed = [float(u(np.arange(n))) for u in units]
    boot = statistics.replicates(
        units, statistics.resample(n, samples, np.random.default_rng(seed))
    )
    examples = statistics.example_level(observed, boot, weights, difference=True)
    seed_level = statistics.compare(a.per_seed(), b.per_seed(), examples.shared_variance)
    return {
        "num_examples": a.num_examples,
        "explainer": a.explainer,
        "baseline": b.explainer,
        "comparison": seed_level,
        "examples": examples,
    }


def comparisons(
    groups: list[Group],
    rows,
    samples: int,
    extra: list[tuple[str, str]] = (),
    seed: int = 0,
    defaults: bool = True,
) -> list[dict[str, Any]]:
    """The report's family of tests, per student size: (defaults) every learned, transferred
    or derived arm against the best static one (chosen on validation) and against the uniform
    mix where that is not the best, the best static one against the uniform mix, and every
    learned arm against a search arm; then the `extra` (explainer, baseline) pairs (a study's
    pre-registered family, with defaults False). Holm-adjusted together."""
    out = []
    by_key = {(g.num_examples, g.explainer): g for g in groups}
    for n in sorted({g.num_examples for g in groups}):
        best = best_static(rows, n)
        pairs = []
        if best is not None and defaults:
            baseline = by_key[(n, best["explainer"])]
            uniform = by_key.get((n, UNIFORM)) if best["explainer"] != UNIFORM else None
            for g in groups:
                if g.num_examples == n and g.kind not in ("static", "search"):
                    pairs += [(g, baseline)] + ([(g, uniform)] if uniform else [])
            if uniform:
                pairs.append((baseline, uniform))
        for s in (g for g in groups if defaults and g.num_examples == n and g.kind == "search"):
            pairs += [(g, s) for g in groups if g.num_examples == n and g.kind == "learned"]
        for a, b in extra:
            if (n, a) in by_key and (n, b) in by_key:
                pairs.append((by_key[(n, a)], by_key[(n, b)]))
        seen = set()
        for g, other in pairs:
            if (g.explainer, other.explainer) in seen:  # e.g. a --compare pair also made above
                continue
            seen.add((g.explainer, other.explainer))
            test = compare(g, other, samples, seed)
            test["selected_on_test"] = bool(best and best.get("selected_on_test"))
            out.append(test)
    tested = [t for t in out if t["comparison"].p is not None]
    # A pre-registered test whose arms have not run yet still belongs to the family: it counts
    # at p = 1, so a partial study is adjusted as strictly as the finished one will be.
    made = {(t["explainer"], t["baseline"]) for t in tested}
    pending = [f"{a} vs {b}" for a, b in extra if (a, b) not in made]
    adjusted = statistics.holm([t["comparison"].p for t in tested] + [1.0] * len(pending))
    for t, p in zip(tested, adjusted, strict=False):
        t["p_holm"] = float(p)
    family = len(tested) + len(pending)
    for t in out:
        t.setdefault("p_holm", None)
        t["pending"] = pending
        t["family"] = family
        c = t["comparison"]
        # Holm passes a p below alpha / family whatever the other tests give (its strictest
        # step), so these seeds make the claim in this family; at alpha alone they may not.
        t["seeds_needed_family"] = (
            statistics.seeds_needed(c.difference, c.sd, c.sd_b, statistics.ALPHA / family)
            if c.p is not None
            else None
        )
    return out
