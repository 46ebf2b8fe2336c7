"""Step time of the quick start's teacher and SMAT student under the settings it could trade.

    python experiments/bench_quick_start.py --teacher_workdir runs/imdb/smat/teacher \
        [--steps 8] [--out table.md]

Every row builds the real trainer of configs/imdb_teacher.py:quick or imdb_learnable.py:quick
with the row's overrides (the students on the finished teacher of --teacher_workdir), then
times `--steps` training steps on the run's own batches after two warm-up steps (compilation;
with meta.interval = 2 the warm-up covers both kinds of step), in one process, side by side.
Columns: mean seconds per step, the ratio to the row's baseline, and what the row's run would
spend in training steps (steps × s / step).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import jax

from smat import config as config_lib
from smat import sharding
from smat.trainers import TRAINERS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FROZEN = {"train.frozen": "word_embeddings"}
# Attention dropout draws a random number per attention weight ([batch, heads, q, k] per layer):
# on CPU the random bits cost a large share of a small model's step.
NO_ATTN_DROPOUT = {"model.attention_dropout": 0.0}
ROWS = [  # (config, label, overrides); the first row of each config is its baseline
    ("imdb_teacher", "teacher", {}),
    ("imdb_teacher", "teacher, frozen word embeddings", FROZEN),
    ("imdb_teacher", "teacher, no attention dropout", NO_ATTN_DROPOUT),
    ("imdb_learnable", "SMAT (unroll)", {}),
    ("imdb_learnable", "SMAT (unroll), frozen", FROZEN),
    ("imdb_learnable", "SMAT (online), frozen", {**FROZEN, "meta.hypergradient": "online"}),
    ("imdb_learnable", "SMAT (unroll), frozen, meta every 2", {**FROZEN, "meta.interval": 2}),
    (
        "imdb_learnable",
        "SMAT (unroll), frozen, meta every 2, no attention dropout",
        {**FROZEN, "meta.interval": 2, **NO_ATTN_DROPOUT},
    ),  # fmt: skip
    ("imdb_learnable", "static attention, frozen", {**FROZEN, "setup": "static_teacher"}),
]


def step_time(config_name: str, overrides: dict, teacher_workdir: str, steps: int):
    c = config_lib.from_file(os.path.join(REPO, "configs", f"{config_name}.py:quick"))
    config_lib.override(c, overrides)
    if c.setup != "no_teacher":
        c.teacher_workdir = teacher_workdir
    c.progress = False
    with tempfile.TemporaryDirectory() as workdir:
        trainer = TRAINERS.get(c.setup)(c, workdir)
        trainer.setup()
        state = trainer.state
        with trainer.mesh:
            for i in range(2 + steps):
                if i == 2:
                    state = jax.block_until_ready(state)
                    start = time.perf_counter()
                batch = sharding.put_batch(trainer.next_batch(i), trainer.mesh)
                state, _ = trainer.train_step(state, batch)
            jax.block_until_ready(state)
        return (time.perf_counter() - start) / steps, trainer.total_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher_workdir", required=True)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--only", default="", help="rows whose label contains this")
    parser.add_argument("--out")
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(args.teacher_workdir, "summary.json")):
        sys.exit(f"--teacher_workdir {args.teacher_workdir}: no finished teacher run there")
    lines = ["| run | settings | s / step | × baseline | steps | in steps (s) |", "|---" * 6 + "|"]
    base = {}
    for config_name, label, overrides in ROWS:
        if args.only not in label:
            continue
        seconds, total = step_time(config_name, overrides, args.teacher_workdir, args.steps)
        base.setdefault(config_name, seconds)
        settings = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "as configured"
        lines.append(
            f"| {label} | {settings} | {seconds:.2f} | {seconds / base[config_name]:.2f} | "
            f"{total} | {seconds * total:.0f} |"
        )
        print(lines[-1], file=sys.stderr, flush=True)
    header = (
        f"{jax.devices()[0].device_kind}, {os.cpu_count()} CPU cores, jax {jax.__version__}, "
        f"{args.steps} timed steps per row\n\n"
    )
    text = header + "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
