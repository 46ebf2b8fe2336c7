"""The report's text: report.md's tables, the method it used, and findings in words that only
say "beats" where the seed-level, Holm-adjusted test does."""

from __future__ import annotations

import os
from typing import Any

from smat import statistics
from smat.reporting.groups import Group


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "–" if value is None else format(value, spec)


def _short(path: str) -> str:
    """experiments/imdb_smat_study.py for /any/clone/experiments/imdb_smat_study.py: the same text
    on every machine, so a report recomputed elsewhere is identical."""
    return os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))


def seed_ranges(seeds) -> str:
    """[0, 1, 2, 3, 7] -> "0-3, 7"."""
    seeds = sorted(seeds)
    parts, start = [], None
    for i, s in enumerate(seeds):
        if start is None:
            start = s
        if i + 1 == len(seeds) or seeds[i + 1] != s + 1:
            parts.append(str(start) if start == s else f"{start}-{s}")
            start = None
    return ", ".join(parts)


def _seeds(c: statistics.Comparison) -> str:
    if c.paired:
        return f"{len(c.seeds_a)} paired ({seed_ranges(c.seeds_a)})"
    text = f"{len(c.seeds_a)} vs {len(c.seeds_b)}"
    return f"{text} (Welch)" if c.p is not None else f"{text}: no seed-level test"


def _ci(low: float | None, high: float | None, sign: str = "+") -> str:
    if low is None or high is None:
        return ""
    return f" [{low:{sign}.4f}, {high:{sign}.4f}]"


def significant(t: dict[str, Any]) -> bool:
    return t["p_holm"] is not None and t["p_holm"] < statistics.ALPHA


def test_record(t: dict[str, Any]) -> dict[str, Any]:
    """A test as one flat row (tests.csv)."""
    c: statistics.Comparison = t["comparison"]
    e: statistics.ExampleLevel | None = t["examples"]
    return {
        "num_examples": t["num_examples"],
        "explainer": t["explainer"],
        "baseline": t["baseline"],
        "paired": c.paired,
        "seeds_a": " ".join(map(str, c.seeds_a)),
        "seeds_b": " ".join(map(str, c.seeds_b)),
        "difference": c.difference,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
        "p": c.p,
        "p_holm": t["p_holm"],
        "method": c.method,
        "sd": c.sd,
        "seeds_for_80pct_power": c.seeds_needed,
        "seeds_for_80pct_power_in_family": t["seeds_needed_family"],
        "examples_ci_low": e.ci_low if e else None,
        "examples_ci_high": e.ci_high if e else None,
        "examples_p": e.p if e else None,
        "selected_on_test": t["selected_on_test"],
    }


def finding(t: dict[str, Any]) -> str:
    """One sentence per test; "beats" only where the Holm-adjusted seed-level p < alpha."""
    c: statistics.Comparison = t["comparison"]
    a, b = f"`{t['explainer']}`", f"`{t['baseline']}`"
    where = f"({t['num_examples']} examples)"
    if c.p is None:
        return (
            f"{a} vs {b} {where}: {c.difference:+.4f}, but one side has a single seed: no "
            "seed-level test (add seeds)."
        )
    stats = (
        f"{c.difference:+.4f}{_ci(c.ci_low, c.ci_high)}, p = {c.p:.3f}, Holm p = {t['p_holm']:.3f}"
    )
    how = f"{c.method} over {_seeds(c)}"
    if significant(t):
        verb = "beats" if c.difference > 0 else "is worse than"
        return f"**{a} {verb} {b}** {where}: {stats} ({how})."
    if not c.seeds_needed:
        power = f"No number of seeds up to {statistics.MAX_SEEDS} would give 80% power here"
    else:
        power = f"80% power at this difference needs ~{c.seeds_needed} seeds per arm"
        if t["family"] > 1:  # a test made alone is a family of one
            in_family = t["seeds_needed_family"]
            power += (
                f" alone, ~{in_family} to pass Holm over the {t['family']} tests whatever "
                "the others give"
                if in_family
                else f" alone, more than {statistics.MAX_SEEDS} within the family"
            )
    floor = c.smallest_p()
    if floor is not None and floor >= statistics.ALPHA:
        # Its CI may exclude 0 while no p can: the seeds are too few to test, not a null.
        return (
            f"{a} vs {b} {where}: too few seeds to test ({stats}; {how}): {len(c.seeds_a)} pairs "
            f"cannot give a p below {floor:.3f}. {power}."
        )
    return (
        f"{a} vs {b} {where}: no difference shown ({stats}; {how}); at 95% it lies within "
        f"±{c.bound():.4f}. {power}."
    )


def _power(t: dict[str, Any]) -> str:
    """Seeds for 80% power alone and (a family of several) within the family."""
    c = t["comparison"]
    if c.p is None:
        return "–"

    def seeds(n: int | None) -> str:
        return str(n) if n else f"> {statistics.MAX_SEEDS}"

    alone = seeds(c.seeds_needed)
    return alone if t["family"] == 1 else f"{alone} ({seeds(t['seeds_needed_family'])})"


def _method(samples: int, tests: list[dict[str, Any]], predictions: bool) -> str:
    pending = tests[0]["pending"] if tests else []
    family = sum(t["p_holm"] is not None for t in tests) + len(pending)
    if pending:
        family = (
            f"{family} tests ({len(pending)} of them pre-registered but not yet computable, "
            "counted at p = 1)"
        )
    else:
        family = f"{family} tests"
    share = (
        "whose variance adds the test set's share (the covariance between seeds over "
        f"{samples} bootstrap resamples of the test examples)"
        if predictions
        else "(the test set's share cannot be added without predictions)"
    )
    return (
        "**Method.** The seed is the unit: a run's simulability on the whole test set is one "
        "value (a run of several students sharing one explainer: their mean). Mean over seeds "
        f"with a 95% t interval over seeds {share}. Comparisons are paired by seed where "
        "both arms have two or more seeds in common (an exact sign-flip permutation test of the "
        f"mean difference; a paired t-test beyond {statistics.EXACT_MAX} pairs), else Welch's "
        f"t-test over all their seeds; p is Holm-adjusted over the report's {family}, "
        'and bold or "beats" needs the adjusted p < 0.05. *Seeds for 80% power*: per arm, '
        "at the observed difference and spread, at α = 0.05 alone and (in brackets) at α "
        "divided by the family's size, where Holm's correction passes it whatever the other "
        "tests give. *These students "
        "only*: a bootstrap over test examples with the trained students fixed; it ignores "
        "seed-to-seed variance, so it is shown for reference, never for a claim."
    )


def report(
    *,
    root: str,
    invocations: list[dict[str, Any]],
    groups: list[Group],
    rows: list[dict[str, Any]],
    tests: list[dict[str, Any]],
    samples: int,
    only: list[str] | None,
    explainers: list[str] | None,
    movement: tuple[str, ...],
    extra: list[str],
    head_plots: list[str],
    missing: list[str],
    default_tests: bool = True,
    restored: int = 0,
) -> list[str]:
    """report.md's lines (`default_tests`: whether `tests` hold the default comparisons or
    only the pairs asked for, which the method line then says; `restored`: how many cells were
    put back from an archive, their runs gone)."""
    task = groups[0].task
    metric = "accuracy against the teacher" if task == "classification" else "Pearson r"
    several = any(r["students_per_seed"] > 1 for r in rows)
    lines = [
        f"# Sweep report: {os.path.basename(os.path.abspath(root))}",
        "",
        *dict.fromkeys(i["description"] for i in invocations if i.get("description")),
        "",
        (
            "Sweep "
            + "; ".join(  # once each: the same sweep may have run from two clones
                dict.fromkeys(
                    f"`{_short(i['sweep_file'])}`, variant `{i['variant']}`" for i in invocations
                )
            )
            if invocations
            else "Cells of the committed `cells.csv`"
        )
        + (
            f"; cells matching {', '.join(only)}"
            if only and len(only) <= 5
            else f"; the {len(only)} cells the caller named"
            if only
            else ""
        )
        + (f"; explainers {', '.join(explainers)}" if explainers else "")
        + (
            f"; {restored} cell{'s' if restored != 1 else ''} restored from an archive of it "
            "(their runs are gone; the rest ran later with the same teacher, checked on the "
            "test set)"
            if restored
            else ""
        )
        + f". Simulability = {metric} on "
        + (
            f"{groups[0].teacher.shape[0]} test examples, recomputed from each cell's test "
            "predictions."
            if all(g.has_predictions for g in groups)
            else "the test set, as each cell reported it: **the cells' predictions are lost**, so "
            "this report is recomputed from the committed per-cell values (cells.csv): seed "
            "level only, without the test set's share of the CIs and without any "
            "example-level number."
        ),
        "",
        _method(samples, tests, all(g.has_predictions for g in groups)),
        "",
        "*kind*: static (fixed explainer), learned (SMAT), transfer (fixed weights from a SMAT "
        "run or a .npy file, frozen, teaching fresh students), derived (a fixed explainer picked "
        "from what SMAT learned: not a candidate for the best static one), search (per seed, the "
        "static explainer a search picks on validation); *val*: mean best validation "
        "simulability (what selects); *sd*: over seeds (⚠: a learned arm less steady than the "
        "best static one); *cost / run*: wall time of one run from nothing (including the run a "
        "transferred or restarted explainer came from and every run of a search), the fastest "
        "seed's, with the median over seeds in brackets: every seed does the same work, and a "
        "shared or paused machine only adds time.",
        "",
        "| examples | explainer | kind | seeds | val | mean [95% CI over seeds] | sd | worst seed "
        "| per seed | these students only [95% CI] | cost / run |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        seeds = str(r["seeds"]) + (f" ×{r['students_per_seed']}" if several else "")
        sd = _fmt(r["sd"]) + (" ⚠" if r["spread_flag"] else "")
        lines.append(
            f"| {r['num_examples']} | {r['explainer']} | {r['kind']} | {seeds} | "
            f"{_fmt(r['val_mean'])} | {r['mean']:.4f}{_ci(r['ci_low'], r['ci_high'], '')} | {sd} | "
            f"{r['worst']:.4f} | {', '.join(f'{v:.4f}' for v in r['per_seed'])} | "
            f"{_ci(r['examples_ci_low'], r['examples_ci_high'], '').strip() or '–'} | "
            f"{_cost(r)} |"
        )
    if several:
        lines += [
            "",
            "*seeds ×K*: K students per run, sharing one explainer; a seed's value is their mean.",
        ]
    lines += [f"- `{r['explainer']}`: {r['note']}." for r in rows if r["note"]]
    if tests:
        lines += _tests_table(tests, default_tests)
    if any(g.kind == "search" for g in groups):
        lines += _cost_table(rows, tests)
    learned = [r for r in rows if r["kind"] == "learned"]
    if learned and any(r[movement[0]] is not None for r in learned):
        lines += [
            "",
            "How far the learned explainers moved (means over seeds, at the best step): "
            "total-variation distance of the teacher's head weights φ from uniform (0 = "
            "uniform), heads with weight > 0, meta-steps taken, and the same distance for the "
            "student's explainer ψ:",
            "",
            "| examples | explainer | φ distance | φ heads > 0 | meta-steps | ψ distance |",
            "|---|---|---|---|---|---|",
        ]
        for r in learned:
            lines.append(
                f"| {r['num_examples']} | {r['explainer']} | {_fmt(r[movement[0]], '.3f')} | "
                f"{_fmt(r[movement[1]], '.1f')} | {_fmt(r[movement[2]], '.0f')} | "
                f"{_fmt(r[movement[3]], '.3f')} |"
            )
    lines += extra
    lines += ["", "![simulability](simulability.png)", ""]
    lines += [f"![learned heads]({p})" for p in head_plots]
    if missing:
        lines += ["", "Cells without predictions: " + "; ".join(missing) + "."]
    return lines


def _tests_table(tests: list[dict[str, Any]], defaults: bool) -> list[str]:
    on_test = any(t["selected_on_test"] for t in tests)
    which = (
        "every learned, transferred or derived explainer against the best static one, chosen by "
        + (
            "**test** simulability (the cells have no validation values)"
            if on_test
            else "validation simulability"
        )
        + ", and against the uniform mix where that is not the best; the best static one "
        "against the uniform mix; learned arms against a search; pairs asked for with "
        "`--compare`"
        if defaults
        # A pre-registered family: no other test enters Holm's correction.
        else "only the pairs asked for with `--compare` (the study's family, fixed in advance)"
    )
    lines = [
        "",
        f"Comparisons: {which}. Bold: Holm-adjusted p < 0.05.",
        "",
        "| examples | explainer | baseline | seeds | difference [95% CI] | p | p (Holm) "
        f"| seeds for 80% power{' (in the family)' if tests[0]['family'] > 1 else ''} "
        "| these students only: difference [95% CI], p |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in tests:
        c, e = t["comparison"], t["examples"]
        diff = f"{c.difference:+.4f}{_ci(c.ci_low, c.ci_high)}"
        lines.append(
            f"| {t['num_examples']} | {t['explainer']} | {t['baseline']} | {_seeds(c)} | "
            + (f"**{diff}**" if significant(t) else diff)
            + f" | {_fmt(c.p, '.3f')} | {_fmt(t['p_holm'], '.3f')} | "
            f"{_power(t)} | "
            + (
                f"{e.estimate:+.4f} [{e.ci_low:+.4f}, {e.ci_high:+.4f}], {e.p:.3f} |"
                if e
                else "– |"
            )
        )
    lines += ["", "Findings (seed level, Holm-adjusted):", ""]
    lines += [f"- {finding(t)}" for t in tests]
    return lines


def _cost(row: dict[str, Any]) -> str:
    if row["cost_s"] is None:
        return "–"
    return f"{row['cost_s']:.0f} s ({row['cost_median_s']:.0f} s)"


def _ratio(row: dict[str, Any], search: dict[str, Any], key: str) -> str:
    return f"{row[key] / search[key]:.2f}" if row[key] and search[key] else "–"


def _cost_table(rows: list[dict[str, Any]], tests: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "Time to quality: each learned arm against what a search over static explainers "
        "costs and gives (cost / run as in the table above: the fastest seed's wall time, the "
        "median in brackets; the ratio of the fastest, of the medians in brackets).",
        "",
        "| examples | arm | search | mean | cost / run | cost ÷ search's | vs search "
        "(seed level) |",
        "|---|---|---|---|---|---|---|",
    ]
    by_key = {(r["num_examples"], r["explainer"]): r for r in rows}
    for t in tests:
        if not t["baseline"].startswith("search:"):
            continue
        r, s = (
            by_key[(t["num_examples"], t["explainer"])],
            by_key[(t["num_examples"], t["baseline"])],
        )
        c = t["comparison"]
        lines.append(
            f"| {t['num_examples']} | {t['explainer']} | {t['baseline']} | {r['mean']:.4f} | "
            f"{_cost(r)} | {_ratio(r, s, 'cost_s')} ({_ratio(r, s, 'cost_median_s')}) | "
            f"{c.difference:+.4f}{_ci(c.ci_low, c.ci_high)}, Holm p = {_fmt(t['p_holm'], '.3f')} |"
        )
    return lines
