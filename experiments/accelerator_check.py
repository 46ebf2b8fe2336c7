"""A prepared accelerator check: step times and MFU at the paper's sizes, then the headroom
cells of the paper protocol at a reduced step count, in one table.

    python experiments/accelerator_check.py                 # one GPU: under 8 minutes
    python experiments/accelerator_check.py --smoke --out /tmp/check.md   # CPU, seconds (tests)

1. Steps (experiments/bench_meta_step.py, side by side in one process): plain, static and
   SMAT (unroll, forward, online) student steps and the naive original design, BERT-base size
   (the paper's ELECTRA/BERT-base-like encoder), 256 tokens, batch 16: seconds per step, XLA's
   FLOP count, achieved TFLOP/s and MFU (over the device's dense peak for the step's dtype:
   TF32 for float32 matmuls on NVIDIA, as JAX runs them by default; `--peak-tflops` overrides).
2. Headroom cells (experiments/imdb_paper.py, variant `paper`, seed 0, 500 examples): static
   attention over all layers, of the last layer, and SMAT, each and their teacher cut to
   `--steps` steps: wall time per cell and test simulability. A short protocol: the cells'
   numbers check that the path runs and how fast, not which explainer teaches better.

Writes `experiments/results/accelerator_<device>.md` (`--out` elsewhere). Never a test's
dependency; the suite runs `--smoke` (tiny model, the smoke grid) on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

import jax

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_meta_step  # noqa: E402

# Dense peak TFLOP/s per device kind (float32 matmuls run as TF32 on these by default).
PEAK_TFLOPS = {"H100": 494.7, "H200": 494.7, "A100": 156.0, "L4": 60.0, "A10G": 35.0}
HEADROOM = ("n500/attention_all/seed0", "n500/attention_last/seed0", "n500/smat/seed0")


def peak_tflops(kind: str) -> float | None:
    for name, peak in PEAK_TFLOPS.items():
        if name in kind:
            return peak
    return None


def steps_table(
    size: str, length: int, batch: int, repeats: int, peak: float | None, only: tuple = ()
) -> str:
    s = bench_meta_step.build(size, length, batch)
    rows = bench_meta_step.bench(size, s, repeats, only)
    header = ["step", "s / step", "GFLOP / step", "TFLOP/s", "MFU", "memory (MB)", "× plain"]
    lines = []
    for r in rows:
        tflops = r["gflop_s"] / 1e3
        mfu = f"{100 * tflops / peak:.1f}%" if peak else "–"
        lines.append(
            [r["row"], f"{r['step_s']:.4f}", f"{r['gflop']:.1f}", f"{tflops:.2f}", mfu]
            + [f"{r['memory_mb']:.0f}", f"{r['vs_plain']:.2f}"]
        )
    return bench_meta_step.markdown(header, lines)


def headroom_table(root: str, variant: str, cells: tuple[str, ...], steps: int) -> str:
    """Runs the cells (teacher first) with `train.num_steps=steps` and tabulates them."""
    sweep = os.path.join(HERE, "imdb_paper.py")
    cmd = [sys.executable, "-m", "smat.sweep", sweep, "--root", root, "--variant", variant]
    cmd += [arg for cell in cells for arg in ("--only", cell)]
    cmd += ["--set", f"train.num_steps={steps}", "--set", f"teacher.train.num_steps={steps}"]
    cmd += ["--set", "progress=False"]
    start = time.time()
    done = subprocess.run(cmd, cwd=os.path.dirname(HERE), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"headroom cells failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    lines = []
    for cell in cells:
        with open(os.path.join(root, "cells", cell, "summary.json")) as f:
            s = json.load(f)
        lines.append([cell, f"{s['wall_time_s']:.0f}", f"{s['test/simulability']:.4f}"])
    with open(os.path.join(root, "teacher", "summary.json")) as f:
        t = json.load(f)
    lines.append(["teacher", f"{t['wall_time_s']:.0f}", f"accuracy {t['test/accuracy']:.4f}"])
    table = bench_meta_step.markdown(["cell", "wall (s)", "test"], lines)
    return f"{table}\n\nAll cells and the teacher: {time.time() - start:.0f} s.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, seconds: tiny model, smoke grid")
    parser.add_argument("--steps", type=int, default=300, help="steps per headroom cell")
    parser.add_argument("--repeats", type=int, default=10, help="timed steps per row")
    parser.add_argument("--peak-tflops", type=float, help="the device's dense peak (MFU)")
    parser.add_argument("--root", default="runs/accelerator_check", help="the headroom cells' root")
    parser.add_argument("--out", help="default: experiments/results/accelerator_<device>.md")
    args = parser.parse_args(argv)
    device = jax.devices()[0]
    kind = device.device_kind
    peak = args.peak_tflops or peak_tflops(kind)
    if args.smoke:
        # The suite's check of the whole path, kept short: three step rows, one SMAT cell.
        size, length, batch, repeats = "tiny", 16, 2, 1
        only = ("plain", "static", "smat (unroll, default)")
        variant, cells, steps = "smoke", ("n64/smat/seed0",), 8
    else:
        size, length, batch, repeats = "bert-base", 256, 16, args.repeats
        variant, cells, steps, only = "paper", HEADROOM, args.steps, ()
    start = time.time()
    text = (
        f"# Accelerator check: {kind}\n\n"
        f"{len(jax.devices())} × {kind} ({jax.default_backend()}), jax {jax.__version__}, "
        f"`python experiments/accelerator_check.py{' --smoke' if args.smoke else ''}`.\n\n"
        f"## Steps: {size} size, {length} tokens, batch {batch}, {repeats} timed steps per row\n\n"
        f"MFU over a dense peak of {peak or '(unknown)'} TFLOP/s.\n\n"
        f"{steps_table(size, length, batch, repeats, peak, only)}\n\n"
        f"## Headroom cells: imdb_paper.py `{variant}`, {steps} steps each\n\n"
        f"{headroom_table(args.root, variant, cells, steps)}\n"
    )
    text += f"Whole check: {time.time() - start:.0f} s.\n"
    out = args.out or os.path.join(
        HERE, "results", f"accelerator_{re.sub(r'[^A-Za-z0-9]+', '_', kind).strip('_')}.md"
    )
    with open(out, "w") as f:
        f.write(text)
    print(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
