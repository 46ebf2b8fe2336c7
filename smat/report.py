"""Aggregate a sweep: simulability tables with confidence intervals, a paired test, plots.

  python -m smat.report runs/imdb_paper [--bootstrap 1000]

Reads `<root>/sweep.json` (written by `smat.sweep`: every cell any sweep ran on the root; narrow
it with `--only GLOB` and `--explainers a,b`) and every cell's `test_predictions.npz`
(per-example teacher and student outputs): every number is recomputed from those files. Writes
`<root>/report.md` (or into `--out DIR`: a narrowed report beside the full one), `results.csv`
(per explainer and size), `cells.csv` (per cell: settings, status, best step, metrics, wall
time), `simulability.png` (simulability vs number of student examples, one line per explainer,
95% CI error bars) and `heads_n<N>.png` (the learned head weights, layers × heads, per seed).
With `--explanations N [--eraser DIR | --word-tags DIR]` it first evaluates every teacher
explainer's faithfulness (and plausibility against ERASER rationales or MLQE-PE BAD words) on
N test examples (`smat.evaluation.sweep_explanations`) and adds that table.

Statistics, per (num_examples, explainer) over seeds: median and interquartile range over seeds
(the original's reporting), and the mean over seeds with a 95% percentile-bootstrap CI over test
examples (resampled jointly for all seeds: every student is tested on the same examples), beside
the mean validation simulability (the run's best, which selected its checkpoint) and wall time.

Comparisons are chosen on validation data, never on test: per student size, the *best static
explainer* is the fixed one (setup static_teacher, no transferred weights) with the highest
mean validation simulability. Every learned explainer (SMAT cells, setup learnable_teacher) and
every transferred one (`teacher_explainer.from_run`) is compared with it, and the best static
explainer with the uniform mix (`attention_all`) when they differ (is there headroom?), by a
paired bootstrap over the same resampled test examples: the difference, its 95% CI and a
two-sided p-value. Learned explainers also get how far they moved (from their summaries).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import fnmatch
import os
import sys
from typing import Any

import numpy as np

from smat import checkpointing
from smat import config as config_lib
from smat import sweep as sweep_lib
from smat import workdir as workdir_lib
from smat.errors import ConfigError
from smat.evaluation import sweep_explanations

LEARNED = "smat"  # the label of the main SMAT cells (heads_n<N>.png)
UNIFORM = "attention_all"  # the label of the uniform head mix
MOVEMENT = (
    "phi/distance_from_uniform",
    "phi/nonzero_heads",
    "meta/steps",
    "psi/distance_from_uniform",
)


@dataclasses.dataclass
class Group:
    """The cells of one (num_examples, explainer), one per seed."""

    num_examples: int
    explainer: str
    seeds: list[int]
    student: np.ndarray  # [seeds, examples(, outputs)]
    teacher: np.ndarray  # [examples(, outputs)]
    label: np.ndarray  # [examples]
    task: str
    head_weights: list[np.ndarray | None]
    # "static", "learned" (SMAT), "transfer" (from_run weights) or "derived" (a cell label:
    # a fixed explainer picked from what SMAT learned, kept out of the best-static choice)
    kind: str = "static"
    summaries: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    monitor: str = "val/simulability"

    def summary_mean(self, key: str) -> float | None:
        """Mean over seeds of a summary field (None if a seed lacks it)."""
        values = [s.get(key) for s in self.summaries]
        if not values or any(v is None for v in values):
            return None
        return float(np.mean(values))


def _kind(config: dict[str, Any]) -> str:
    if config.get("setup") == "learnable_teacher":
        return "learned"
    if config.get("teacher_explainer", {}).get("from_run"):
        return "transfer"
    return "static"


def _agreement_stat(task: str, student: np.ndarray, teacher: np.ndarray):
    """f(idx [B, n]) -> [B] mean over seeds of simulability on the resampled examples."""
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


def per_seed(group: Group) -> np.ndarray:
    """Simulability of every seed's student on the whole test set."""
    n = group.teacher.shape[0]
    return np.asarray(
        [
            _agreement_stat(group.task, group.student[i : i + 1], group.teacher)(np.arange(n))
            for i in range(len(group.seeds))
        ]
    )


def bootstrap(stat, n: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """`stat` on `samples` resamples (with replacement) of n example indices, in chunks."""
    out = []
    for start in range(0, samples, 100):
        idx = rng.integers(0, n, size=(min(100, samples - start), n))
        out.append(stat(idx))
    return np.concatenate(out)


def selected_cells(
    root: str, only: list[str] | None = None, explainers: list[str] | None = None
) -> list[dict[str, Any]]:
    """The manifest's cells (every sweep run on the root), narrowed to names matching a glob
    of `only` and to the explainer labels in `explainers` (None: no filter)."""
    cells = sweep_lib.read_manifest(root)["cells"]
    if only:
        cells = [c for c in cells if any(fnmatch.fnmatch(c["name"], p) for p in only)]
    if explainers:
        cells = [c for c in cells if c["labels"]["explainer"] in explainers]
    return cells


def cell_status(workdir: str) -> str:
    """Why a cell has or lacks predictions: finished, running (by whom), failed (its error),
    interrupted at step N, started (no checkpoint yet) or not started."""
    if os.path.isfile(os.path.join(workdir, "summary.json")):
        return "finished"
    busy = workdir_lib.holder(workdir)
    if busy is not None:
        return f"running: {workdir_lib.describe(busy)}"
    failed = os.path.join(workdir, sweep_lib.FAILED)
    if os.path.isfile(failed):
        error = checkpointing.read_json(failed)["error"].strip().splitlines()
        return f"failed: {error[-1] if error else '?'}"
    latest = os.path.join(workdir, "checkpoints", "latest")
    steps = [int(d) for d in os.listdir(latest) if d.isdigit()] if os.path.isdir(latest) else []
    if steps:
        return f"interrupted at step {max(steps)}"
    return "started, no checkpoint yet" if os.path.isdir(workdir) else "not started"


def load_groups(
    root: str, only: list[str] | None = None, explainers: list[str] | None = None
) -> tuple[list[Group], list[str]]:
    """The sweep's groups, and the cells without predictions as "name (why)"."""
    selected = selected_cells(root, only, explainers)
    cells: dict[tuple[int, str], list[dict[str, Any]]] = {}
    missing = []
    for cell in selected:
        path = os.path.join(cell["workdir"], "test_predictions.npz")
        if not os.path.isfile(path):
            missing.append(f"{cell['name']} ({cell_status(cell['workdir'])})")
            continue
        key = (int(cell["labels"]["num_examples"]), cell["labels"]["explainer"])
        cells.setdefault(key, []).append(cell)
    groups = []
    # Sizes ascending, explainers in the sweep file's order.
    order = list(dict.fromkeys(c["labels"]["explainer"] for c in selected))
    for (n, explainer), members in sorted(
        cells.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))
    ):
        members.sort(key=lambda c: c["labels"]["seed"])
        preds = []
        for c in members:
            with np.load(os.path.join(c["workdir"], "test_predictions.npz")) as z:
                preds.append({k: z[k] for k in z.files})
        for p in preds[1:]:
            if not np.array_equal(p["index"], preds[0]["index"]):
                raise ValueError(f"n={n} {explainer}: the seeds were tested on different examples")
        config = checkpointing.read_json(os.path.join(members[0]["workdir"], "config.json"))
        heads, summaries = [], []
        for c in members:
            path = os.path.join(c["workdir"], "teacher_head_weights.npy")
            heads.append(np.load(path) if os.path.isfile(path) else None)
            path = os.path.join(c["workdir"], "summary.json")
            summaries.append(checkpointing.read_json(path) if os.path.isfile(path) else {})
        groups.append(
            Group(
                num_examples=n,
                explainer=explainer,
                seeds=[c["labels"]["seed"] for c in members],
                student=np.stack([p["student_logits"] for p in preds]),
                teacher=preds[0]["teacher_logits"],
                label=preds[0]["label"],
                task=config.get("task", "classification"),
                head_weights=heads,
                kind=members[0]["labels"].get("kind") or _kind(config),
                summaries=summaries,
                monitor=config.get("train", {}).get("monitor", "val/simulability"),
            )
        )
    return groups, missing


def summarise(groups: list[Group], samples: int, seed: int = 0) -> list[dict[str, Any]]:
    """One row per group: per-seed values, median/IQR over seeds, mean with 95% bootstrap CI."""
    rows = []
    for g in groups:
        rng = np.random.default_rng(seed)
        values = per_seed(g)
        n = g.teacher.shape[0]
        boot = bootstrap(_agreement_stat(g.task, g.student, g.teacher), n, samples, rng)
        q25, median, q75 = np.percentile(values, [25, 50, 75])
        rows.append(
            {
                "num_examples": g.num_examples,
                "explainer": g.explainer,
                "seeds": len(g.seeds),
                "median": float(median),
                "q25": float(q25),
                "q75": float(q75),
                "mean": float(values.mean()),
                "ci_low": float(np.percentile(boot, 2.5)),
                "ci_high": float(np.percentile(boot, 97.5)),
                "per_seed": [float(v) for v in values],
                "test_examples": n,
                "kind": g.kind,
                "val_mean": g.summary_mean(f"best_{g.monitor}"),
                "wall_time_s": g.summary_mean("wall_time_s"),
                **{k: g.summary_mean(k) if g.kind == "learned" else None for k in MOVEMENT},
            }
        )
    return rows


def _on_seeds(group: Group, seeds: list[int]) -> Group:
    keep = [group.seeds.index(s) for s in seeds]
    return dataclasses.replace(group, seeds=list(seeds), student=group.student[keep])


def paired_test(a: Group, b: Group, samples: int, seed: int = 0) -> dict[str, Any]:
    """Paired bootstrap over test examples: mean simulability of a minus b. On the seeds both
    have where they share any (the same students but for the explainer: a seed that only one
    side has would otherwise count as a difference of explainers); else on all their seeds."""
    common = sorted(set(a.seeds) & set(b.seeds))
    if common:
        a, b = _on_seeds(a, common), _on_seeds(b, common)
    stat_a = _agreement_stat(a.task, a.student, a.teacher)
    stat_b = _agreement_stat(b.task, b.student, b.teacher)
    size = a.teacher.shape[0]
    observed = float(stat_a(np.arange(size)) - stat_b(np.arange(size)))
    rng = np.random.default_rng(seed)
    diffs = bootstrap(lambda idx: stat_a(idx) - stat_b(idx), size, samples, rng)
    # Two-sided: how often a resampled difference lies as far from the observed one as the
    # observed one lies from 0 (the bootstrap distribution shifted to the null).
    p = float((1 + np.sum(np.abs(diffs - observed) >= abs(observed))) / (1 + len(diffs)))
    return {
        "num_examples": a.num_examples,
        "explainer": a.explainer,
        "baseline": b.explainer,
        "difference": observed,
        "ci_low": float(np.percentile(diffs, 2.5)),
        "ci_high": float(np.percentile(diffs, 97.5)),
        "p_value": p,
        "seeds": ",".join(map(str, common)) if common else "all, none shared",
    }


def best_static(rows, n: int) -> dict[str, Any] | None:
    """The static explainer with the highest mean validation simulability at size n (by test
    mean only where no cell has a validation value: then say so)."""
    static = [r for r in rows if r["num_examples"] == n and r["kind"] == "static"]
    if not static:
        return None
    if all(r["val_mean"] is not None for r in static):
        return max(static, key=lambda r: r["val_mean"])
    return {**max(static, key=lambda r: r["mean"]), "selected_on_test": True}


def paired_tests(groups: list[Group], rows, samples: int, seed: int = 0) -> list[dict[str, Any]]:
    """Per num_examples: every learned or transferred explainer against the best static one
    (chosen on validation); where that is not the uniform mix, also against the uniform mix,
    and the best static one against it (is there headroom?)."""
    out = []
    by_key = {(g.num_examples, g.explainer): g for g in groups}
    for n in sorted({g.num_examples for g in groups}):
        best = best_static(rows, n)
        if best is None:
            continue
        baseline = by_key[(n, best["explainer"])]
        uniform = by_key.get((n, UNIFORM)) if best["explainer"] != UNIFORM else None
        pairs = []
        for g in groups:
            if g.num_examples == n and g.kind != "static":
                pairs += [(g, baseline)] + ([(g, uniform)] if uniform else [])
        if uniform:
            pairs.append((baseline, uniform))
        for g, other in pairs:
            test = paired_test(g, other, samples, seed)
            test["selected_on_test"] = bool(best.get("selected_on_test"))
            out.append(test)
    return out


def _plot_simulability(rows, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    explainers = list(dict.fromkeys(r["explainer"] for r in rows))
    sizes = sorted({r["num_examples"] for r in rows})
    for k, name in enumerate(explainers):
        mine = sorted((r for r in rows if r["explainer"] == name), key=lambda r: r["num_examples"])
        # Small horizontal offsets keep overlapping error bars readable.
        offset = 1 + 0.015 * (k - (len(explainers) - 1) / 2)
        x = [r["num_examples"] * offset for r in mine]
        y = [r["mean"] for r in mine]
        err = [[r["mean"] - r["ci_low"] for r in mine], [r["ci_high"] - r["mean"] for r in mine]]
        ax.errorbar(
            x,
            y,
            yerr=err,
            marker="o",
            capsize=3,
            label=name,
            linewidth=2.5 if name == LEARNED else 1.2,
        )
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(s) for s in sizes])
    ax.set_xlabel("student training examples")
    ax.set_ylabel("test simulability (mean over seeds, 95% CI)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_heads(group: Group, path: str) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heads = [(s, w) for s, w in zip(group.seeds, group.head_weights, strict=True) if w is not None]
    if not heads:
        return False
    fig, axes = plt.subplots(1, len(heads), figsize=(3.2 * len(heads), 2.6), squeeze=False)
    vmax = max(float(w.max()) for _, w in heads)
    for ax, (seed, w) in zip(axes[0], heads, strict=True):
        im = ax.imshow(w, cmap="viridis", vmin=0, vmax=vmax, aspect="auto")
        ax.set_title(f"{group.num_examples} examples, seed {seed}", fontsize=9)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_xticks(range(w.shape[1]))
        ax.set_yticks(range(w.shape[0]))
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="learned head weight")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return True


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "–" if value is None else format(value, spec)


CELL_RESULTS = ("best_step", "test/simulability", "test/accuracy", "wall_time_s", *MOVEMENT)


def write_cells_csv(cells: list[dict[str, Any]], path: str) -> None:
    """One row per cell: name, labels, status, the study settings of its config
    (`config.HPARAMS`), best step, best validation value, test metrics and wall time."""
    rows = []
    for cell in cells:
        workdir = cell["workdir"]
        config_path = os.path.join(workdir, "config.json")
        config = cell.get("config") or (
            checkpointing.read_json(config_path) if os.path.isfile(config_path) else {}
        )
        summary_path = os.path.join(workdir, "summary.json")
        summary = checkpointing.read_json(summary_path) if os.path.isfile(summary_path) else {}
        best_val = {k: v for k, v in summary.items() if k.startswith("best_val/")}
        rows.append(
            {
                "name": cell["name"],
                **{f"label.{k}": v for k, v in cell["labels"].items()},
                "status": cell_status(workdir),
                **config_lib.hparams(config),
                **best_val,
                **{k: summary.get(k) for k in CELL_RESULTS},
            }
        )
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def write(
    root: str,
    samples: int = 1000,
    only: list[str] | None = None,
    explainers: list[str] | None = None,
    out: str | None = None,
) -> dict[str, Any]:
    """Writes report.md, results.csv (per group), cells.csv (per cell) and the plots into
    `out` (default: root), over the manifest's cells narrowed by `only` / `explainers`;
    returns the rows and tests. A narrowed report (e.g. a replication's seeds) goes to its own
    `out`, beside the sweep's full one."""
    out = out or root
    os.makedirs(out, exist_ok=True)
    write_cells_csv(selected_cells(root, only, explainers), os.path.join(out, "cells.csv"))
    groups, missing = load_groups(root, only, explainers)
    if not groups:
        raise FileNotFoundError(f"{root}: no cell has test predictions yet; run the sweep first")
    rows = summarise(groups, samples)
    tests = paired_tests(groups, rows, samples)
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        fields = [k for k in rows[0] if k != "per_seed"] + ["per_seed"]
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for r in rows:
            writer.writerow({**r, "per_seed": " ".join(f"{v:.4f}" for v in r["per_seed"])})
    _plot_simulability(rows, os.path.join(out, "simulability.png"))
    head_plots = []
    for g in groups:
        if g.kind == "learned":
            name = f"heads_n{g.num_examples}" + (
                "" if g.explainer == LEARNED else f"_{g.explainer}"
            )
            name = name.replace("/", "_") + ".png"
            if _plot_heads(g, os.path.join(out, name)):
                head_plots.append(name)
    invocations = sweep_lib.read_manifest(root)["invocations"]
    task = groups[0].task
    metric = "accuracy against the teacher" if task == "classification" else "Pearson r"
    lines = [
        f"# Sweep report: {os.path.basename(os.path.abspath(root))}",
        "",
        *dict.fromkeys(i["description"] for i in invocations if i.get("description")),
        "",
        "Sweep "
        + "; ".join(
            f"`{os.path.relpath(i['sweep_file'])}`, variant `{i['variant']}`" for i in invocations
        )
        + (f"; cells matching {', '.join(only)}" if only else "")
        + (f"; explainers {', '.join(explainers)}" if explainers else "")
        + ". "
        f"Simulability = {metric} on {groups[0].teacher.shape[0]} test examples, recomputed from "
        f"each cell's test_predictions.npz. CI: 95% percentile bootstrap over test examples "
        f"({samples} resamples).",
        "",
        "Bold: the highest test mean per size; *kind*: static (fixed explainer), learned (SMAT) "
        "or transfer (fixed weights from a SMAT run or a .npy file, frozen, teaching fresh "
        "students); derived: a fixed explainer picked from what SMAT learned (not a candidate "
        "for the best static one); *val*: mean best validation simulability (what selects).",
        "",
        "| examples | explainer | kind | seeds | val | median [IQR] over seeds | mean [95% CI] "
        "| per seed | wall time / run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        best = max(x["mean"] for x in rows if x["num_examples"] == r["num_examples"])
        name = f"**{r['explainer']}**" if r["mean"] == best else r["explainer"]
        lines.append(
            f"| {r['num_examples']} | {name} | {r['kind']} | {r['seeds']} | {_fmt(r['val_mean'])} "
            f"| {r['median']:.4f} [{r['q25']:.4f}, {r['q75']:.4f}] | {r['mean']:.4f} "
            f"[{r['ci_low']:.4f}, {r['ci_high']:.4f}] | "
            f"{', '.join(f'{v:.4f}' for v in r['per_seed'])} | {_fmt(r['wall_time_s'], '.0f')} s |"
        )
    if tests:
        on_test = any(t["selected_on_test"] for t in tests)
        lines += [
            "",
            "Paired bootstrap tests (same test examples, averaged over the seeds both "
            "explainers have, or over all seeds where they share none): every learned or "
            "transferred explainer against the best static one, chosen by "
            + (
                "**test** simulability (the cells have no validation values)"
                if on_test
                else "validation simulability"
            )
            + "; where that is not the uniform mix, each also against the uniform mix, and "
            "the best static one against it:",
            "",
            "| examples | explainer | baseline | seeds | difference [95% CI] | p (two-sided) |",
            "|---|---|---|---|---|---|",
        ]
        for t in tests:
            lines.append(
                f"| {t['num_examples']} | {t['explainer']} | {t['baseline']} | {t['seeds']} | "
                f"{t['difference']:+.4f} [{t['ci_low']:+.4f}, {t['ci_high']:+.4f}] | "
                f"{t['p_value']:.3f} |"
            )
    learned = [r for r in rows if r["kind"] == "learned"]
    if learned and any(r[MOVEMENT[0]] is not None for r in learned):
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
                f"| {r['num_examples']} | {r['explainer']} | {_fmt(r[MOVEMENT[0]], '.3f')} | "
                f"{_fmt(r[MOVEMENT[1]], '.1f')} | {_fmt(r[MOVEMENT[2]], '.0f')} | "
                f"{_fmt(r[MOVEMENT[3]], '.3f')} |"
            )
    explanations = os.path.join(root, sweep_explanations.RESULTS)
    if os.path.isfile(explanations):
        lines += sweep_explanations.table(checkpointing.read_json(explanations))
    lines += ["", "![simulability](simulability.png)", ""]
    lines += [f"![learned heads]({p})" for p in head_plots]
    if missing:
        lines += ["", "Cells without predictions: " + "; ".join(missing) + "."]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return {"rows": rows, "tests": tests, "missing": missing}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smat.report", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("root", help="the sweep's --root folder")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument(
        "--explanations",
        type=int,
        default=0,
        metavar="N",
        help="first evaluate every teacher explainer's faithfulness on N test examples",
    )
    parser.add_argument(
        "--eraser", help="with --explanations: an ERASER rationale folder, for plausibility"
    )
    parser.add_argument(
        "--word-tags",
        help="with --explanations: a folder of MLQE-PE word-level files (.src/.mt/.tags); "
        "plausibility against the BAD translation words",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="report only the cells whose name matches (e.g. 'n500/*'; repeat for more)",
    )
    parser.add_argument("--explainers", help="report only these explainer labels (comma-separated)")
    parser.add_argument("--out", help="write the report files here (default: the root)")
    args = parser.parse_args(argv)
    explainers = [e for e in (args.explainers or "").split(",") if e] or None
    try:
        if args.eraser and args.word_tags:
            raise ValueError("give --eraser or --word-tags, not both")
        if args.explanations:
            sweep_explanations.evaluate(
                args.root, args.explanations, args.eraser, word_tags=args.word_tags
            )
        elif args.eraser or args.word_tags:
            raise ValueError(
                "--eraser/--word-tags need --explanations N (how many examples to evaluate)"
            )
        result = write(args.root, args.bootstrap, args.only or None, explainers, args.out)
    except (FileNotFoundError, ValueError, ConfigError) as e:
        print(f"report error: {e}", file=sys.stderr)
        return 2
    print(open(os.path.join(args.out or args.root, "report.md")).read())
    if result["missing"]:
        print(f"{len(result['missing'])} cells have no predictions yet", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
