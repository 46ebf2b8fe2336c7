"""A report's arms: the cells of one (student size, explainer), one per seed, and derived arms
(a search that picks one static explainer per seed on validation)."""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable
from typing import Any

import numpy as np

from smat import statistics
from smat.reporting.cells import MONITOR, Cell, source_cell


@dataclasses.dataclass
class Group:
    """The cells of one (num_examples, explainer), one per seed.

    student: [seeds, students, examples(, outputs)]: a run of K students (`meta.num_students`)
    counts as one seed whose value is its students' mean. None for cells whose predictions are
    lost: `values` then holds each seed's reported test simulability, and nothing
    example-level can be computed."""

    num_examples: int
    explainer: str
    seeds: list[int]
    student: np.ndarray | None
    teacher: np.ndarray | None  # [examples(, outputs)]
    task: str
    values: list[float] | None = None
    kind: str = "static"
    head_weights: list[np.ndarray | None] = dataclasses.field(default_factory=list)
    summaries: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    monitor: str = MONITOR
    costs: list[float | None] = dataclasses.field(default_factory=list)  # wall time, s per seed
    note: str = ""  # how a derived arm was made

    @property
    def students_per_seed(self) -> int:
        return 1 if self.student is None else self.student.shape[1]

    @property
    def has_predictions(self) -> bool:
        return self.student is not None

    def on(self, seeds: list[int]) -> Group:
        keep = [self.seeds.index(s) for s in seeds]
        return dataclasses.replace(
            self,
            seeds=list(seeds),
            student=None if self.student is None else self.student[keep],
            values=None if self.values is None else [self.values[i] for i in keep],
            head_weights=[self.head_weights[i] for i in keep] if self.head_weights else [],
            summaries=[self.summaries[i] for i in keep] if self.summaries else [],
            costs=[self.costs[i] for i in keep] if self.costs else [],
        )

    def seed_stats(self) -> list[Callable[[np.ndarray], np.ndarray]]:
        """Per seed: f(example idx) -> the simulability of its students (their mean)."""
        return [
            statistics.simulability_stat(self.task, students, self.teacher)
            for students in self.student
        ]

    def per_seed(self) -> dict[int, float]:
        """{seed: simulability on the whole test set (mean over the seed's students)}."""
        if self.student is None:
            return dict(zip(self.seeds, self.values, strict=True))
        idx = np.arange(self.teacher.shape[0])
        return {s: float(f(idx)) for s, f in zip(self.seeds, self.seed_stats(), strict=True)}

    def summary_mean(self, key: str) -> float | None:
        """Mean over seeds of a summary field (None if a seed lacks it)."""
        values = [s.get(key) for s in self.summaries]
        if not values or any(v is None for v in values):
            return None
        return float(np.mean(values))

    def validation(self) -> dict[int, float | None]:
        return {
            s: summary.get(f"best_{self.monitor}")
            for s, summary in zip(self.seeds, self.summaries, strict=True)
        }


def _cost(cell: Cell, by_workdir: dict[str, Cell]) -> float | None:
    """A cell's wall time plus that of the run whose explainer it starts from (transfer,
    restart), recursively: what it takes to get this cell's result from nothing."""
    own = cell.summary.get("wall_time_s")
    source = cell.field("teacher_explainer.from_run") or ""
    if own is None or not source:
        return own
    name = source_cell(source)
    if name not in by_workdir:
        return None  # a run outside the sweep: its cost is unknown
    upstream = _cost(by_workdir[name], by_workdir)
    return None if upstream is None else own + upstream


def build(cells: list[Cell]) -> tuple[list[Group], list[str]]:
    """The groups of cells with predictions, and the others as "name (why)"."""
    by_name = {c.name: c for c in cells}
    members: dict[tuple[int, str], list[Cell]] = {}
    missing = []
    for cell in cells:
        if cell.predictions is None and not _value_only(cell):
            missing.append(f"{cell.name} ({cell.status})")
            continue
        key = (int(cell.labels["num_examples"]), cell.labels["explainer"])
        members.setdefault(key, []).append(cell)
    order = list(dict.fromkeys(c.labels["explainer"] for c in cells))  # the sweep file's
    groups = []
    for (n, explainer), group in sorted(
        members.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))
    ):
        group.sort(key=lambda c: c.labels["seed"])
        common = dict(
            num_examples=n,
            explainer=explainer,
            seeds=[c.labels["seed"] for c in group],
            task=group[0].field("task", "classification"),
            kind=group[0].kind,
            head_weights=[c.head_weights for c in group],
            summaries=[c.summary for c in group],
            monitor=group[0].field("train.monitor", MONITOR),
            costs=[_cost(c, by_name) for c in group],
        )
        if any(c.predictions is None for c in group):  # lost predictions: the values only
            values = [float(c.summary["test/simulability"]) for c in group]
            groups.append(Group(student=None, teacher=None, values=values, **common))
            continue
        preds = [c.predictions for c in group]
        for p in preds[1:]:
            if not np.array_equal(p["index"], preds[0]["index"]):
                raise ValueError(f"n={n} {explainer}: the seeds were tested on different examples")
        teacher = preds[0]["teacher_logits"]
        # One student per cell: [examples(, outputs)] -> [1, examples(, outputs)].
        students = [
            p["student_logits"][None]
            if p["student_logits"].ndim == teacher.ndim
            else p["student_logits"]
            for p in preds
        ]
        if len({s.shape for s in students}) > 1:
            raise ValueError(
                f"n={n} {explainer}: the seeds' runs have different numbers of students"
            )
        groups.append(Group(student=np.stack(students), teacher=teacher, **common))
    return groups, missing


def _value_only(cell: Cell) -> bool:
    """A finished cell whose predictions are lost but whose test value is recorded."""
    return cell.status == "finished" and cell.summary.get("test/simulability") is not None


def search(groups: list[Group], pattern: str, num_examples: int) -> Group | None:
    """A derived arm: per seed, the static explainer matching `pattern` with the best
    validation value among those that ran on that seed (all of them must have), i.e. what a
    search over them would pick; its cost is the whole search's wall time. None: fewer than
    two explainers match, or no seed has them all."""
    family = [
        g
        for g in groups
        if g.num_examples == num_examples
        and g.kind == "static"
        and fnmatch.fnmatch(g.explainer, pattern)
    ]
    if len(family) < 2:
        return None
    seeds = sorted(set.intersection(*(set(g.seeds) for g in family)))
    if not seeds:
        return None
    picks, students, values, summaries, costs = [], [], [], [], []
    for s in seeds:
        on_seed = [g.on([s]) for g in family]
        validation = [g.validation()[s] for g in on_seed]
        if any(v is None for v in validation):
            return None
        best = on_seed[int(np.argmax(validation))]
        picks.append(best.explainer)
        values.append(best.per_seed()[s])
        if best.has_predictions:
            students.append(best.student[0])
        summaries.append(best.summaries[0])
        spent = [g.costs[0] for g in on_seed]
        costs.append(None if any(c is None for c in spent) else float(sum(spent)))
    chosen = ", ".join(f"{k}× {name}" for name, k in _counts(picks))
    return Group(
        num_examples=num_examples,
        explainer=f"search:{pattern}",
        seeds=seeds,
        student=np.stack(students) if len(students) == len(seeds) else None,
        teacher=family[0].teacher,
        values=values,
        task=family[0].task,
        kind="search",
        summaries=summaries,
        monitor=family[0].monitor,
        costs=costs,
        note=f"the best of {len(family)} static explainers on validation per seed ({chosen})",
    )


def _counts(names: list[str]) -> list[tuple[str, int]]:
    return [(n, names.count(n)) for n in dict.fromkeys(names)]
