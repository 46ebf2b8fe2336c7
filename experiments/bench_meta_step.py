"""Step time of the student and SMAT steps, against the naive method the original code uses.

    python experiments/bench_meta_step.py [--sizes tiny,minilm] [--lengths 128] [--batches 16]
        [--repeats 5] [--seeds 4] [--students 1,2,4,8] [--out table.md]

One process, one run, every row measured side by side on the same random batch and weights:

- plain: a student step without explanation (β = 0): the floor;
- static: a student step with a static attention explainer (teacher features cached per
  example, as `StaticTeacherTrainer` does);
- smat (unroll, default): the learnable-teacher step as `LearnableTeacherTrainer` runs it (one
  jit: the student update fused with the meta-step; reverse-over-reverse hypergradient);
- smat (forward): `meta.hypergradient=forward`, the same hypergradient from one JVP pass;
- smat (online): `meta.hypergradient=online`, through the update just taken (one gradient fewer);
- naive: the original's design, rebuilt here: the teacher's forward pass recomputed in every
  step, a separate jit for the student update and for the meta-step, reverse over reverse.

With `--seeds K`, a second table: the default SMAT step of K student seeds in one program
(vmapped over the seeds, as `python -m smat.main --seeds=...` and `smat.sweep --seeds-together`
run them) against K separate steps.

With `--students 1,2,4,8`, a third table: the default SMAT step with K students sharing one
explainer (`meta.num_students=K`: K student updates and K meta-gradients, averaged, in one
program), all K measured side by side (interleaved) in one process: seconds per step, memory,
and the cost against one student's step, in all and per student.

Columns: median seconds per step after compilation, examples/s, the compiled program's memory
(XLA's memory analysis: arguments + outputs + temporaries, the whole step's working set), the
ratio to the plain step, naive / this row, and the step's FLOPs (XLA's cost analysis; the
achieved GFLOP/s over the device's peak is the model FLOPs utilisation). Models are
BERT-family encoders with random weights of the named size (optimiser and explainer settings:
configs/imdb_learnable.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from smat import config as config_lib
from smat import explainers, optim, teacher
from smat.models import EncoderConfig, TextClassifier
from smat.simulation import Simulation
from smat.steps import hypergradients
from smat.steps import meta as meta_step
from smat.steps import student as student_steps
from smat.trainers.lockstep import seed_axes

SIZES = {
    "tiny": EncoderConfig(
        vocab_size=8000, hidden_size=128, num_layers=2, num_heads=4, intermediate_size=256
    ),
    "minilm": EncoderConfig(),  # all-MiniLM-L6-v2: 6 layers, 384 hidden, 12 heads
    "bert-base": EncoderConfig(
        hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072
    ),
}
CONFIG = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "configs", "imdb_learnable.py"
)


@dataclasses.dataclass
class Setup:
    module: TextClassifier
    teacher_params: dict
    state: student_steps.StudentState
    batch: dict  # raw inputs (ids, mask, weight)
    valid: dict
    sim: Simulation
    tx: optax.GradientTransformation
    meta_tx: optax.GradientTransformation
    schedule: optax.Schedule


def build(size: str, length: int, batch_size: int) -> Setup:
    c = config_lib.from_file(CONFIG)
    enc = dataclasses.replace(SIZES[size], max_position_embeddings=max(512, length))
    module = TextClassifier(enc, num_classes=2)
    rng = np.random.default_rng(0)

    def inputs():
        ids = rng.integers(1000, enc.vocab_size, (batch_size, length)).astype(np.int32)
        return {
            "input_ids": ids,
            "attention_mask": np.ones((batch_size, length), np.int32),
            "weight": np.ones(batch_size, np.float32),
        }

    batch, valid = inputs(), inputs()
    init = jax.jit(module.init)
    teacher_params = init(jax.random.key(1), batch["input_ids"], batch["attention_mask"])["params"]
    student_params = init(jax.random.key(2), batch["input_ids"], batch["attention_mask"])["params"]
    teacher_ex = explainers.build(c.teacher_explainer, learnable=True)
    student_ex = explainers.build(c.student_explainer)
    sim = Simulation(module.apply, teacher_ex, student_ex, c.beta)
    total = 1000
    tx, meta_tx = optim.make(c.optim, total), optim.make(c.meta.optim, total)
    params = {"model": student_params, "explainer": student_ex.init(enc.num_layers, enc.num_heads)}
    phi = teacher_ex.init(enc.num_layers, enc.num_heads)
    state = student_steps.StudentState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=tx.init(params),
        rng=jax.random.key(3),
        phi=phi,
        meta_opt_state=meta_tx.init(phi),
        last_meta_grad=jax.tree.map(jnp.zeros_like, phi),
    )
    return Setup(
        module,
        teacher_params,
        state,
        batch,
        valid,
        sim,
        tx,
        meta_tx,
        optim.schedule(c.optim, total),
    )


def teacher_outputs(s: Setup, teacher_params, batch):
    """The batch with the teacher's logits and explainer features (what the trainers cache)."""
    logits, features = teacher.outputs(
        s.module.apply, s.sim.teacher_explainer, teacher_params, batch
    )
    return {**batch, "teacher_logits": logits, "teacher_features": features}


def cached_batches(s: Setup) -> tuple[dict, dict]:
    """The train and validation batches with the teacher's outputs, computed once."""
    cached = jax.jit(functools.partial(teacher_outputs, s))
    return cached(s.teacher_params, s.batch), cached(s.teacher_params, s.valid)


def smat_step(s: Setup, hypergradient: str = "unroll", num_students: int = 1):
    """The learnable-teacher step as the trainer builds it (meta-step every step)."""
    return functools.partial(
        meta_step.learnable_step,
        sim=s.sim,
        tx=s.tx,
        meta_tx=s.meta_tx,
        lr_schedule=s.schedule,
        interval=1,
        hypergradient=hypergradient,
        num_students=num_students,
    )


def rows_for(s: Setup):
    """(name, step(state) -> state, jitted functions for memory analysis)."""
    train, valid = cached_batches(s)
    plain_sim = dataclasses.replace(s.sim, beta=0.0)

    def static_like(sim):
        f = jax.jit(
            functools.partial(student_steps.static_step, sim=sim, tx=s.tx, lr_schedule=s.schedule),
            donate_argnums=0,
        )
        return (lambda st: f(st, train)[0]), [(f, (s.state, train))]

    def learnable(hypergradient):
        f = jax.jit(smat_step(s, hypergradient), donate_argnums=0)
        return (lambda st: f(st, train, valid)[0]), [(f, (s.state, train, valid))]

    # The original's design: the teacher runs inside every step, and the student update and the
    # meta-step are two programs (each recomputing what it needs).
    @jax.jit
    def naive_student(state, teacher_params, batch):
        full = teacher_outputs(s, teacher_params, batch)
        rng = jax.random.fold_in(state.rng, state.step)
        params, opt_state, _ = student_steps.student_update(
            s.sim, s.tx, state.params, state.opt_state, state.phi, full, rng
        )
        return state.replace(step=state.step + 1, params=params, opt_state=opt_state)

    @jax.jit
    def naive_meta(state, teacher_params, batch, valid_batch):
        full = teacher_outputs(s, teacher_params, batch)
        full_valid = teacher_outputs(s, teacher_params, valid_batch)
        rng = jax.random.fold_in(state.rng, state.step)
        _, grads = hypergradients.meta_gradient(
            s.sim, s.tx, state.params, state.opt_state, state.phi, full, full_valid, rng
        )
        updates, meta_opt_state = s.meta_tx.update(grads, state.meta_opt_state, state.phi)
        return state.replace(
            phi=optax.apply_updates(state.phi, updates), meta_opt_state=meta_opt_state
        )

    def naive(st):
        st = naive_student(st, s.teacher_params, s.batch)
        return naive_meta(st, s.teacher_params, s.batch, s.valid)

    return [
        ("plain", *static_like(plain_sim)),
        ("static", *static_like(s.sim)),
        ("smat (unroll, default)", *learnable("unroll")),
        ("smat (forward)", *learnable("forward")),
        ("smat (online)", *learnable("online")),
        (
            "naive",
            naive,
            [
                (naive_student, (s.state, s.teacher_params, s.batch)),
                (naive_meta, (s.state, s.teacher_params, s.batch, s.valid)),
            ],
        ),
    ]


def program_stats(jitted) -> tuple[float, float]:
    """(memory MB, GFLOP) of a row's programs: the largest working set (arguments + outputs +
    temporaries) among them, and the sum of XLA's FLOP counts (cost analysis)."""
    most, flops = 0, 0.0
    for f, args in jitted:
        compiled = f.lower(*args).compile()
        m = compiled.memory_analysis()
        if m is None:
            return float("nan"), float("nan")
        most = max(
            most,
            m.argument_size_in_bytes
            + m.output_size_in_bytes
            - m.alias_size_in_bytes
            + m.temp_size_in_bytes,
        )
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        flops += float((cost or {}).get("flops", float("nan")))
    return most / 2**20, flops / 1e9


def memory_mb(jitted) -> float:
    """`program_stats`' memory."""
    return program_stats(jitted)[0]


def measure(step, state, repeats: int) -> tuple[float, float]:
    """(compile + first call seconds, median step seconds)."""
    return interleaved([step], [state], repeats)[0]


def interleaved(steps: list, states: list, repeats: int) -> list[tuple[float, float]]:
    """`measure` for each step function, their timed steps interleaved (A B B A A B ...): a
    VM's speed drifts by 5-10% over minutes, and timing one step's repeats after the other's
    put that drift into their ratio."""
    states = [jax.tree.map(jnp.copy, s) for s in states]  # steps donate their input
    first, times = [], [[] for _ in steps]
    for i, step in enumerate(steps):
        start = time.perf_counter()
        states[i] = jax.block_until_ready(step(states[i]))
        first.append(time.perf_counter() - start)
    for r in range(repeats):
        for i in range(len(steps))[:: 1 if r % 2 == 0 else -1]:
            start = time.perf_counter()
            states[i] = jax.block_until_ready(steps[i](states[i]))
            times[i].append(time.perf_counter() - start)
    return [(f, statistics.median(t)) for f, t in zip(first, times, strict=True)]


def _labels(size: str, s: Setup) -> dict:
    batch_size, length = s.batch["input_ids"].shape
    return {"size": size, "length": length, "batch": batch_size}


def bench(size: str, s: Setup, repeats: int, only: tuple[str, ...] = ()) -> list[dict]:
    """Every row's (or the `only` rows') timing, memory and FLOPs for the setup `s` of model
    size `size`; the first row is the plain step the ratios divide by."""
    labels = _labels(size, s)
    out = []
    for name, step, jitted in rows_for(s):
        if only and name not in only:
            continue
        first, median = measure(step, s.state, repeats)
        out.append(
            {
                **labels,
                "row": name,
                "compile_s": first - median,
                "step_s": median,
                "examples_s": labels["batch"] / median,
                **dict(zip(("memory_mb", "gflop"), program_stats(jitted), strict=True)),
            }
        )
        print(
            f"  {size} L{labels['length']} B{labels['batch']} {name}: {median:.3f} s/step",
            file=sys.stderr,
        )
    plain = out[0]["step_s"]
    naive = out[-1]["step_s"] if out[-1]["row"] == "naive" else float("nan")
    for r in out:
        r["vs_plain"] = r["step_s"] / plain
        r["naive_over"] = naive / r["step_s"]
        r["gflop_s"] = r["gflop"] / r["step_s"]
    return out


def bench_seeds(size: str, s: Setup, k: int, repeats: int, one: float) -> dict:
    """The default SMAT step of k seeds vmapped in one program, against `one`, the seconds per
    step of one seed (the `bench` row of the same setup)."""
    axes = seed_axes(s.state)
    stacked = jax.tree.map(
        lambda a, x: x if a is None else jnp.stack([x] * k),
        axes,
        s.state,
        is_leaf=lambda a: a is None,
    )
    stacked = stacked.replace(rng=jax.random.split(s.state.rng, k))  # seeds differ
    stack = functools.partial(jax.tree.map, lambda x: jnp.stack([x] * k))
    train, valid = map(stack, cached_batches(s))
    many = jax.jit(
        jax.vmap(smat_step(s), in_axes=(axes, 0, 0), out_axes=(axes, 0)), donate_argnums=0
    )
    _, together = measure(lambda st: many(st, train, valid)[0], stacked, repeats)
    print(f"  {size} {k} seeds: {together:.3f} s/step", file=sys.stderr)
    return {
        **_labels(size, s),
        "k": k,
        "one_s": one,
        "together_s": together,
        "gain": k * one / together,
    }


def bench_students(size: str, s: Setup, ks: list[int], repeats: int) -> list[dict]:
    """The default SMAT step with k students sharing φ, for each k in `ks`, interleaved."""
    train, valid = cached_batches(s)
    steps, states, programs = [], [], []
    for k in ks:
        state, batches = s.state, (train, valid)
        if k > 1:  # each student its own params, optimizer state, rng and batches
            stack = functools.partial(jax.tree.map, lambda x, k=k: jnp.stack([x] * k))
            state = state.replace(
                params=stack(state.params),
                opt_state=stack(state.opt_state),
                rng=jax.random.split(state.rng, k),
            )
            batches = (stack(train), stack(valid))
        f = jax.jit(smat_step(s, num_students=k), donate_argnums=0)
        steps.append(lambda st, f=f, b=batches: f(st, *b)[0])
        states.append(state)
        programs.append([(f, (state, *batches))])
    out = []
    for k, (_compile, median), program in zip(
        ks, interleaved(steps, states, repeats), programs, strict=True
    ):
        memory, gflop = program_stats(program)
        out.append(
            {**_labels(size, s), "k": k, "step_s": median, "memory_mb": memory, "gflop": gflop}
        )
        print(f"  {size} {k} students: {median:.3f} s/step", file=sys.stderr)
    one = next(r for r in out if r["k"] == ks[0])
    for r in out:
        r["vs_one"] = r["step_s"] / one["step_s"] * ks[0]
        r["memory_vs_one"] = r["memory_mb"] / one["memory_mb"]
    return out


def students_table(rows: list[dict]) -> str:
    header = ["size", "length", "batch", "students K", "s / step", "memory (MB)", "GFLOP / step"]
    header += ["× one student's step", "per student × one", "memory × one"]
    return markdown(
        header,
        [
            [r["size"], str(r["length"]), str(r["batch"]), str(r["k"]), f"{r['step_s']:.3f}"]
            + [f"{r['memory_mb']:.0f}", f"{r['gflop']:.1f}", f"{r['vs_one']:.2f}"]
            + [f"{r['vs_one'] / r['k']:.2f}", f"{r['memory_vs_one']:.2f}"]
            for r in rows
        ],
    )


def markdown(header: list[str], lines: list[list[str]]) -> str:
    """A markdown table."""
    rows = [header, ["---"] * len(header), *lines]
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def seeds_table(rows: list[dict]) -> str:
    header = ["size", "length", "batch", "seeds", "1 seed s / step", "all seeds s / step (vmap)"]
    header += ["s / step per seed", "throughput × separate runs"]
    return markdown(
        header,
        [
            [r["size"], str(r["length"]), str(r["batch"]), str(r["k"]), f"{r['one_s']:.3f}"]
            + [f"{r['together_s']:.3f}", f"{r['together_s'] / r['k']:.3f}", f"{r['gain']:.2f}"]
            for r in rows
        ],
    )


def table(rows: list[dict]) -> str:
    header = ["size", "length", "batch", "step", "s / step", "examples / s", "memory (MB)"]
    header += ["× plain", "naive / this", "GFLOP / step", "GFLOP/s", "compile (s)"]
    return markdown(
        header,
        [
            [r["size"], str(r["length"]), str(r["batch"]), r["row"], f"{r['step_s']:.3f}"]
            + [f"{r['examples_s']:.1f}", f"{r['memory_mb']:.0f}", f"{r['vs_plain']:.2f}"]
            + [f"{r['naive_over']:.2f}", f"{r['gflop']:.1f}", f"{r['gflop_s']:.1f}"]
            + [f"{r['compile_s']:.1f}"]
            for r in rows
        ],
    )


def emit(text: str, out: str | None) -> None:
    """Prints a benchmark's table and, with `out`, writes it there too."""
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="tiny,minilm", help=f"of {', '.join(SIZES)}")
    parser.add_argument("--lengths", default="128")
    parser.add_argument("--batches", default="16")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per row")
    parser.add_argument(
        "--seeds", type=int, default=0, help="also time K seeds in one program (0: skip)"
    )
    parser.add_argument(
        "--students", default="", help="also time K students sharing φ, e.g. 1,2,4,8 (empty: skip)"
    )
    parser.add_argument(
        "--only-students", action="store_true", help="skip the main table (with --students)"
    )
    parser.add_argument("--out", help="also write the table (markdown) here")
    args = parser.parse_args()
    rows, seed_rows, student_rows = [], [], []
    ks = [int(k) for k in args.students.split(",") if k]
    for size in args.sizes.split(","):
        for length in map(int, args.lengths.split(",")):
            for batch in map(int, args.batches.split(",")):
                s = build(size, length, batch)
                if ks:
                    student_rows += bench_students(size, s, ks, args.repeats)
                if args.only_students:
                    continue
                got = bench(size, s, args.repeats)
                rows += got
                if args.seeds:
                    one = next(r["step_s"] for r in got if r["row"] == "smat (unroll, default)")
                    seed_rows.append(bench_seeds(size, s, args.seeds, args.repeats, one))
    devices = jax.devices()
    header = (
        f"{len(devices)} × {devices[0].device_kind} ({jax.default_backend()}), "
        f"{os.cpu_count()} CPU cores, jax {jax.__version__}, {args.repeats} timed steps per row"
    )
    text = f"{header}\n\n{table(rows)}\n" if rows else f"{header}\n"
    if seed_rows:
        text += f"\nSMAT step (unroll, default), {args.seeds} seeds in one program:\n\n"
        text += f"{seeds_table(seed_rows)}\n"
    if student_rows:
        text += "\nSMAT step (unroll, default), K students sharing one explainer:\n\n"
        text += f"{students_table(student_rows)}\n"
    emit(text, args.out)


if __name__ == "__main__":
    main()
