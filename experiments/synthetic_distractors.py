"""Headroom by construction: can SMAT find the heads that teach, when only some do?

    python experiments/synthetic_distractors.py [--size smoke|default] [--root DIR] [--out DIR]
    python -m smat.report DIR      # the same tables, recomputed from the cells' predictions

A generated task (`smat.evaluation.synthetic`, `num_distractors > 0`): the label is decided by
1-3 planted cue tokens; 1-3 *distractor* tokens per example agree with the label only 75% of
the time. The teacher is built like the IMDB one, pretrained then fine-tuned: a small
encoder is first trained to read the distractors (labels = their polarity), then fine-tuned on
the real labels, so some of its heads attend to the cues and others still to the distractors.
Students start from the pretrained encoder (like a MiniLM student) with a new head, on 64
examples, so without help they also lean on the distractors.

Parts, all with the same students (3 seeds): headroom (no explanation, the uniform mix of all
8 heads, each single head, and mixes on the line from uniform to the best single head by
validation), SMAT variants (meta learning rate, ψ's own optimiser, a simulated SGD step and/or a
128-example validation batch, the online hypergradient), and transfer (each SMAT seed's
learned explainer, default and SGD-simulated, frozen, teaching fresh students, against uniform
attention on the same seeds). Then the meta-gradient itself at the start: its direction for
unrolls of K student steps, how well it agrees between validation batches, and whether it
points to the heads that teach best (Spearman correlation with the single heads' validation
simulability).
Every cell is a workdir under --root with a sweep.json, so the run resumes and
`python -m smat.report` recomputes the statistics.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time

import numpy as np

import smat
from smat import checkpointing, report
from smat import config as config_lib
from smat.evaluation import synthetic
from smat.models import BuiltModel, EncoderConfig, TextClassifier

LENGTH, LAYERS, HEADS, AGREEMENT = 32, 2, 4, 0.75
SIZES = {
    # examples of the pretraining / teacher / each student split, student examples, epochs
    "smoke": dict(
        pretrain=512,
        teacher=512,
        split=128,
        n=32,
        epochs=2,
        seeds=(0,),
        ks=(1, 2),
        horizon_iterations=2,
    ),
    "default": dict(
        pretrain=6000,
        teacher=6000,
        split=500,
        n=64,
        epochs=20,
        seeds=(0, 1, 2),
        ks=(1, 4, 16),
        horizon_iterations=30,
    ),
}
TRANSFERRED = ("smat", "smat_sgdsim_v128")  # SMAT cells whose explainers teach fresh students
TRANSFER_SEED = 10  # transfer students: seeds 10, 11, ... (no SMAT cell's own student)
STUDENT = {
    "progress": False,
    "train.eval_batch_size": 128,
    "optim.learning_rate": 1e-3,
    "optim.schedule": "constant",
    "train.patience": 0,
    "meta.optim.learning_rate": 1e-2,
}
SMAT_VARIANTS = {
    "smat": {},
    "smat_lr1e-3": {"meta.optim.learning_rate": 1e-3},
    "smat_psi": {"explainer_optim.name": "adamw", "explainer_optim.learning_rate": 1e-2},
    "smat_sgdsim_v128": {"meta.simulated_update": "sgd", "meta.valid_batch_size": 128},
    "smat_online_v128": {"meta.hypergradient": "online", "meta.valid_batch_size": 128},
    # Which half of smat_sgdsim_v128 matters: the plain SGD simulated step, or the larger
    # validation batch?
    "smat_sgdsim": {"meta.simulated_update": "sgd"},
    "smat_v128": {"meta.valid_batch_size": 128},
}


def _fields(task, start, stop, label="label"):
    out = {k: task[k][start:stop] for k in ("input_ids", "attention_mask")}
    out["label"] = task[label][start:stop]
    return out


def data(s: dict) -> dict:
    """Pretraining, teacher and student splits (disjoint draws of the generator)."""
    kw = dict(num_distractors=8, distractor_agreement=AGREEMENT)
    pre = synthetic.make_task(s["pretrain"] + s["split"], LENGTH, seed=1, **kw)
    m = s["split"]
    total = s["teacher"] + 5 * m
    task = synthetic.make_task(total, LENGTH, seed=0, **kw)
    o = np.cumsum([0, s["teacher"], m, 2 * m, m, m])  # student pool: 2m
    return {
        "pretrain": _fields(pre, 0, s["pretrain"], "distractor_label"),
        "pretrain_valid": _fields(pre, s["pretrain"], None, "distractor_label"),
        "teacher_train": _fields(task, o[0], o[1]),
        "teacher_valid": _fields(task, o[1], o[2]),
        "pool": _fields(task, o[2], o[3]),
        "student_valid": _fields(task, o[3], o[4]),
        "test": _fields(task, o[4], o[5]),
        "test_full": {k: v[o[4] : o[5]] for k, v in task.items()},
    }


def teacher(d: dict, s: dict, root: str):
    """(model with the pretrained encoder, fine-tuned teacher params, teacher summary)."""
    enc = EncoderConfig(
        vocab_size=synthetic.vocab_size(8, 200, 8),
        hidden_size=64,
        num_layers=LAYERS,
        num_heads=HEADS,
        intermediate_size=128,
        max_position_embeddings=LENGTH,
    )
    model = BuiltModel(TextClassifier(encoder_cfg=enc, num_classes=2))
    cfg = {
        "progress": False,
        "train.eval_batch_size": 128,
        "train.eval_every_steps": 100,
        "optim.learning_rate": 1e-3,
        "optim.warmup_steps": 20,
    }
    pre, _ = smat.train_teacher(
        model,
        train_data=d["pretrain"],
        valid_data=d["pretrain_valid"],
        workdir=os.path.join(root, "pretrain"),
        config={**cfg, "train.num_epochs": 2.0},
    )
    model = BuiltModel(model.module, {"encoder": pre["encoder"]})
    params, summary = smat.train_teacher(
        model,
        train_data=d["teacher_train"],
        valid_data=d["teacher_valid"],
        test_data=d["test"],
        workdir=os.path.join(root, "teacher"),
        config={**cfg, "train.num_epochs": 3.0},
    )
    return model, params, summary


def head_masses(model, params, d: dict) -> dict[str, dict[str, float]]:
    """Mean explanation mass on the cues and on the distractors of every single head."""
    t = d["test_full"]
    batch = {"input_ids": t["input_ids"], "attention_mask": t["attention_mask"]}
    out = {}
    for name, cfg in [("all heads (uniform)", {})] + [
        (f"L{layer}H{head}", {"layer": layer, "head": head})
        for layer in range(LAYERS)
        for head in range(HEADS)
    ]:
        section = config_lib.explainer_section("attention", **cfg).to_dict()
        e = smat.TrainedExplainer(model, params, section, False, None).scores(batch)
        out[name] = {
            "cues": float(np.mean((e * t["rationale"]).sum(1))),
            "distractors": float(np.mean((e * t["distractor"]).sum(1))),
        }
    return out


class Study:
    """Cells trained with `smat.train_explainer` in `<root>/cells/<name>`, listed in
    `<root>/sweep.json` for `smat.report`."""

    def __init__(self, root: str, size: str, model, params, d: dict, s: dict):
        self.root, self.size, self.model, self.params, self.d, self.s = (
            root,
            size,
            model,
            params,
            d,
            s,
        )
        self.cells: list[dict] = []

    def run(self, label: str, seed: int, explainer: dict, learn: bool, config: dict) -> dict:
        name = f"n{self.s['n']}/{label}/seed{seed}"
        workdir = os.path.join(self.root, "cells", name)
        self.cells.append(
            {
                "name": name,
                "workdir": workdir,
                "labels": {"explainer": label, "num_examples": self.s["n"], "seed": seed},
            }
        )
        self._write_manifest()
        done = os.path.join(workdir, "summary.json")
        if os.path.isfile(done):
            return checkpointing.read_json(done)
        steps = max(self.s["n"] // 16, 1)
        beta = 0.0 if label == "none" else 5.0
        return smat.train_explainer(
            teacher=self.model,
            teacher_params=self.params,
            train_data=self.d["pool"],
            valid_data=self.d["student_valid"],
            test_data=self.d["test"],
            num_examples=self.s["n"],
            explainer=explainer,
            learn=learn,
            beta=beta,
            seed=seed,
            workdir=workdir,
            config={
                **STUDENT,
                "train.num_epochs": float(self.s["epochs"]),
                "train.eval_every_steps": 2 * steps,
                **config,
            },
        ).summary

    def _write_manifest(self):
        checkpointing.write_json(
            os.path.join(self.root, "sweep.json"),
            {
                "sweep_file": os.path.abspath(__file__),
                "variant": self.size,
                "description": __doc__.split("\n\n")[0],
                "cells": self.cells,
            },
        )


def hypergradients(study: Study, ranking: dict[str, float], ks, draws: int = 8) -> dict:
    """The meta-gradient at the start (uniform φ, the SMAT student's initial state): its
    direction after K unrolled student steps (outer loss on the whole student-validation
    split), its agreement between 16-example validation batches (K = 1, the default step),
    and its Spearman correlation with the single heads' validation simulability `ranking`."""
    import jax
    import jax.numpy as jnp
    import optax

    from smat import optim

    s = study.s
    trainer = smat.student_trainer(
        study.model,
        study.params,
        train_data=study.d["pool"],
        valid_data=study.d["student_valid"],
        test_data=study.d["test"],
        num_examples=s["n"],
        explainer="attention",
        learn=True,
        seed=0,
        workdir=os.path.join(study.root, "hypergradient"),
        config={**STUDENT, "train.num_epochs": float(s["epochs"])},
    )
    trainer.setup()
    sim, state = trainer.sim, trainer.state
    tx = optim.for_student(trainer.config, trainer.total_steps)
    train = jax.tree.map(
        lambda *x: jnp.stack(x), *[trainer.batches[0].batch(i) for i in range(max(ks))]
    )
    valid = trainer.valid_set.arrays

    def valid_batch(idx):
        b = {k: jnp.asarray(v[idx]) for k, v in valid.items()}
        return {**b, "weight": jnp.ones(len(idx))}

    def outer(phi, k, vb):
        def step(carry, batch):
            p, o, i = carry
            rng = jax.random.fold_in(state.rng, i)
            g = jax.grad(lambda q: sim.loss(q, phi, batch, rng)[0])(p)
            u, o = tx.update(g, o, p)
            return (optax.apply_updates(p, u), o, i + 1), None

        first = jax.tree.map(lambda x: x[:k], train)
        (p, _, _), _ = jax.lax.scan(jax.checkpoint(step), (state.params, state.opt_state, 0), first)
        return sim.simulation_loss(p, vb)

    grad = jax.jit(jax.grad(outer), static_argnums=1)
    heads = [f"L{layer}H{head}" for layer in range(LAYERS) for head in range(HEADS)]
    scores = np.asarray([ranking[h] for h in heads])

    def direction(g):
        d = -np.asarray(g["head_logits"]).ravel()  # the way φ moves
        return d / max(np.abs(d).max(), 1e-30)

    def spearman(a, b):
        ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
        return float(np.corrcoef(ra, rb)[0, 1])

    out = {"heads": heads, "horizons": {}}
    everything = valid_batch(np.arange(len(valid["label"])))
    for k in ks:
        d = direction(grad(state.phi, k, everything))
        out["horizons"][str(k)] = {
            "direction": d.round(3).tolist(),
            "spearman": spearman(d, scores),
        }
    rng = np.random.default_rng(0)
    draws_ = [
        direction(grad(state.phi, 1, valid_batch(rng.choice(len(valid["label"]), 16, False))))
        for _ in range(draws)
    ]
    m = np.stack([x / np.linalg.norm(x) for x in draws_])
    cos = m @ m.T
    out["batch16_mean_cosine"] = float((cos.sum() - draws) / (draws * (draws - 1)))
    out["batch16_spearman"] = [spearman(x, scores) for x in draws_]
    return out


def full_horizon(study: Study, iterations: int, lr: float = 0.05) -> dict:
    """φ learned by the meta-gradient of a whole student training instead of one step: each
    iteration unrolls every step of a fresh SMAT student (seeds 0, 1, 2 in turn, the student's
    own AdamW; φ enters through the explanation loss), differentiates the simulation loss of the
    trained student on the student-validation split with respect to φ, and takes an Adam step
    of `lr` on φ's head logits. Affordable here (80 steps of a small encoder); the point is
    whether the horizon, not the teaching signal, is what the one-step meta-gradient lacks."""
    import jax
    import jax.numpy as jnp
    import optax

    from smat import optim

    s = study.s

    def student(seed):
        trainer = smat.student_trainer(
            study.model,
            study.params,
            train_data=study.d["pool"],
            valid_data=study.d["student_valid"],
            test_data=study.d["test"],
            num_examples=s["n"],
            explainer="attention",
            learn=True,
            seed=seed,
            beta=5.0,
            workdir=os.path.join(study.root, "full_horizon", f"seed{seed}"),
            config={**STUDENT, "train.num_epochs": float(s["epochs"])},
        )
        trainer.setup()
        train = jax.tree.map(
            lambda *x: jnp.stack(x),
            *[trainer.batches[0].batch(i) for i in range(trainer.total_steps)],
        )
        return trainer, train

    students = [student(seed) for seed in (0, 1, 2)]
    first = students[0][0]
    sim = first.sim
    tx = optim.for_student(first.config, first.total_steps)
    valid = {k: jnp.asarray(v) for k, v in first.valid_set.arrays.items()}
    valid["weight"] = jnp.ones(len(valid["label"]))

    def outer(phi, params, opt_state, rng, train):
        def step(carry, batch):
            p, o, i = carry
            g = jax.grad(lambda q: sim.loss(q, phi, batch, jax.random.fold_in(rng, i))[0])(p)
            u, o = tx.update(g, o, p)
            return (optax.apply_updates(p, u), o, i + 1), None

        (p, _, _), _ = jax.lax.scan(jax.checkpoint(step), (params, opt_state, 0), train)
        return sim.simulation_loss(p, valid)

    grad = jax.jit(jax.value_and_grad(outer))
    meta = optax.adam(lr)
    phi = first.state.phi
    meta_state = meta.init(phi)
    losses, weights = [], [np.asarray(first.head_weights(phi)).round(4).tolist()]
    start = time.time()
    for it in range(iterations):
        trainer, train = students[it % len(students)]
        st = trainer.state
        loss, g = grad(phi, st.params, st.opt_state, st.rng, train)
        updates, meta_state = meta.update(g, meta_state, phi)
        phi = optax.apply_updates(phi, updates)
        losses.append(float(loss))
        weights.append(np.asarray(first.head_weights(phi)).round(4).tolist())
    final = np.asarray(first.head_weights(phi), np.float32)
    path = os.path.join(study.root, "full_horizon_weights.npy")
    np.save(path, final / final.sum())
    return {
        "iterations": iterations,
        "lr": lr,
        "outer_loss": [round(x, 4) for x in losses],
        "weights": weights,
        "path": path,
        "seconds": round(time.time() - start, 1),
    }


def run(size: str, root: str) -> dict:
    s = SIZES[size]
    start = time.time()
    d = data(s)
    model, params, t_summary = teacher(d, s, root)
    masses = head_masses(model, params, d)
    study = Study(root, size, model, params, d, s)
    seeds = s["seeds"]
    # Headroom.
    singles = {
        f"L{layer}H{head}": {"name": "attention", "layer": layer, "head": head}
        for layer in range(LAYERS)
        for head in range(HEADS)
    }
    static = {"none": {"name": "attention"}, "attention_all": {"name": "attention"}, **singles}
    val: dict[str, float] = {}
    for label, explainer in static.items():
        runs = [study.run(label, seed, explainer, False, {}) for seed in seeds]
        val[label] = float(np.mean([r["best_val/simulability"] for r in runs]))
    best = max(singles, key=lambda h: val[h])
    layer, head = int(best[1]), int(best[3])
    for t in (0.5, 0.9):
        w = np.full((LAYERS, HEADS), (1 - t) / (LAYERS * HEADS), np.float32)
        w[layer, head] += t
        path = os.path.join(root, f"mix_{best}_{t}.npy")
        np.save(path, w / w.sum())
        for seed in seeds:
            study.run(f"mix{t}_{best}", seed, {"name": "attention", "from_run": path}, False, {})
    # SMAT variants, then transfer of the main one.
    for label, overrides in SMAT_VARIANTS.items():
        for seed in seeds:
            study.run(label, seed, {"name": "attention"}, True, overrides)
    for i, seed in enumerate(seeds):
        fresh = TRANSFER_SEED + i
        study.run("attention_all", fresh, {"name": "attention"}, False, {})
        for label in TRANSFERRED:
            source = os.path.join(root, "cells", f"n{s['n']}", label, f"seed{seed}")
            explainer = {"name": "attention", "from_run": source}
            study.run(f"transfer_{label}", fresh, explainer, False, {})
    # The diagnostics of an earlier invocation on this root are kept (they are deterministic).
    saved = os.path.join(root, "synthetic_distractors.json")
    old = checkpointing.read_json(saved) if os.path.isfile(saved) else {}
    diagnostics = old.get("hypergradient") or hypergradients(
        study, {h: val[h] for h in singles}, s["ks"]
    )
    horizon = old.get("full_horizon") or full_horizon(study, s["horizon_iterations"])
    for i, _ in enumerate(seeds):
        fresh = TRANSFER_SEED + i
        explainer = {"name": "attention", "from_run": horizon["path"]}
        study.run("full_horizon_transfer", fresh, explainer, False, {})
    result = {
        "teacher_test_accuracy": t_summary["test/accuracy"],
        "head_masses": masses,
        "best_single_head_by_validation": best,
        "hypergradient": diagnostics,
        "full_horizon": horizon,
        "wall_time_s": round(time.time() - start, 1),
    }
    checkpointing.write_json(os.path.join(root, "synthetic_distractors.json"), result)
    return result


def format_extra(result: dict) -> str:
    """The tables smat.report does not make: head masses and the meta-gradient diagnostics."""
    hg = result["hypergradient"]
    lines = [
        f"Teacher test accuracy {result['teacher_test_accuracy']:.4f}. Explanation mass of "
        "each teacher head on the planted cues and on the distractors (test examples):",
        "",
        "| head | mass on cues | mass on distractors |",
        "|---|---|---|",
    ]
    for name, m in result["head_masses"].items():
        lines.append(f"| {name} | {m['cues']:.3f} | {m['distractors']:.3f} |")
    lines += [
        "",
        f"Best single head by validation simulability: {result['best_single_head_by_validation']}"
        " (the `mix` rows move from uniform towards it).",
        "",
        "The meta-gradient at the start (uniform φ, the SMAT student's initial state), as the "
        "direction φ's head coefficients move (scaled to max 1), for unrolls of K student steps "
        "with the outer loss on the whole student-validation split; ρ = Spearman correlation of "
        "that direction with the single heads' validation simulability (1: it points to the "
        "heads that teach best):",
        "",
        f"| K | {' | '.join(hg['heads'])} | ρ |",
        "|---|" + "---|" * (len(hg["heads"]) + 1),
    ]
    for k, h in hg["horizons"].items():
        lines.append(
            f"| {k} | {' | '.join(f'{x:+.2f}' for x in h['direction'])} | {h['spearman']:+.2f} |"
        )
    lines += [
        "",
        f"With a 16-example validation batch (the default meta-step, K = 1), 8 batches: mean "
        f"pairwise cosine of their meta-gradients {hg['batch16_mean_cosine']:+.2f}; ρ per batch "
        f"{', '.join(f'{x:+.2f}' for x in hg['batch16_spearman'])}.",
    ]
    fh = result["full_horizon"]
    heads = hg["heads"]
    lines += [
        "",
        f"Full-horizon meta-gradient ({fh['iterations']} iterations of Adam {fh['lr']} on φ, each "
        "differentiating the trained student's validation simulation loss through all of its "
        f"training steps; {fh['seconds']:.0f} s): outer loss, mean over the three students, "
        f"{np.mean(fh['outer_loss'][:3]):.4f} in the first three iterations, "
        f"{np.mean(fh['outer_loss'][-3:]):.4f} in the last three; head weights (the "
        "`full_horizon_transfer` rows teach fresh students with the final ones):",
        "",
        f"| iteration | {' | '.join(heads)} |",
        "|---|" + "---|" * len(heads),
    ]
    shown = sorted({0, len(fh["weights"]) // 4, len(fh["weights"]) // 2, len(fh["weights"]) - 1})
    for i in shown:
        w = np.asarray(fh["weights"][i]).ravel()
        lines.append(f"| {i} | {' | '.join(f'{x:.3f}' for x in w)} |")
    lines += [
        "",
        f"Wall time: {result['wall_time_s']:.0f} s.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="default")
    parser.add_argument("--root", default="runs/synthetic_distractors")
    parser.add_argument("--out", default=None, help="copy report.md, plots and the JSON here")
    args = parser.parse_args()
    result = run(args.size, args.root)
    report.write(args.root)
    extra = format_extra(result)
    path = os.path.join(args.root, "report.md")
    body = open(path).read()
    command = f"python experiments/synthetic_distractors.py --size {args.size}"
    with open(path, "w") as f:
        f.write(f"Command: `{command}` (2 CPU cores, {time.strftime('%Y-%m-%d')})\n\n")
        f.write(body + "\n## The teacher's heads and the meta-gradient\n\n" + extra + "\n")
    print(open(path).read())
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        for name in os.listdir(args.root):
            if name.endswith((".md", ".png", ".csv")) or name == "synthetic_distractors.json":
                shutil.copy(os.path.join(args.root, name), args.out)


if __name__ == "__main__":
    main()
