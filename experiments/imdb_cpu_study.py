"""Do explanations help students simulate the teacher? The CPU-sized IMDB study.

Same teacher (configs/imdb_teacher.py), same 500 student examples, three students:
no explanation (β = 0), static attention (uniform head mix, β = 5) and learned attention
(SMAT, β = 5), each for several seeds (the seed changes the student's init and data order).
Every cell is an ordinary run in its own workdir, so the study resumes where it stopped.

  python experiments/imdb_cpu_study.py --root runs/imdb_cpu_study --seeds 0,1,2

Prints (and writes to <root>/results.md) test simulability per cell and seed, mean ± sd.
"""

import argparse
import os
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from smat import config as config_lib  # noqa: E402
from smat.trainers import TRAINERS  # noqa: E402

CELLS = {
    "no_explanation": ("imdb_static", {"beta": 0.0}),
    "static_attention": ("imdb_static", {"beta": 5.0}),
    "learned_attention": ("imdb_learnable", {"beta": 5.0}),
}


def run_cell(name: str, seed: int, root: str, variant: str) -> dict:
    config_file, overrides = CELLS[name]
    c = config_lib.from_file(os.path.join(REPO, "configs", f"{config_file}.py:{variant}"))
    c.seed = seed
    c.teacher_workdir = os.path.join(root, "teacher")
    c.update(overrides)
    return TRAINERS.get(c.setup)(c, os.path.join(root, f"{name}_seed{seed}")).fit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="runs/imdb_cpu_study")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variant", default="default", help="config variant (smoke for a try)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, list[dict]] = {name: [] for name in CELLS}
    start = time.time()
    for seed in seeds:
        for name in CELLS:
            summary = run_cell(name, seed, args.root, args.variant)
            if summary["status"] != "finished":
                sys.exit(f"{name} seed {seed} was interrupted; run the same command to resume")
            results[name].append(summary)
    lines = [
        f"# IMDB CPU study ({args.variant} configs, seeds {args.seeds})",
        "",
        f"Teacher: {args.root}/teacher, test accuracy "
        f"{results['no_explanation'][0]['test/teacher_accuracy']:.4f}. "
        f"Students: {results['no_explanation'][0]['num_examples']} training examples. "
        f"Test simulability on {results['no_explanation'][0]['test/examples']} reviews.",
        "",
        "| student | test simulability (mean ± sd) | per seed | test accuracy | wall time / run |",
        "|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        sims = [r["test/simulability"] for r in runs]
        accs = [r["test/accuracy"] for r in runs]
        sd = statistics.stdev(sims) if len(sims) > 1 else 0.0
        lines.append(
            f"| {name} | {statistics.mean(sims):.4f} ± {sd:.4f} | "
            f"{', '.join(f'{s:.4f}' for s in sims)} | {statistics.mean(accs):.4f} | "
            f"{statistics.mean(r['wall_time_s'] for r in runs):.0f} s |"
        )
    learned = [r.get("teacher_heads", "") for r in results["learned_attention"]]
    lines += ["", "Learned teacher heads (top weights) per seed:", ""]
    lines += [f"- seed {s}: {h}" for s, h in zip(seeds, learned, strict=True)]
    lines += ["", f"Total wall time of this invocation: {time.time() - start:.0f} s."]
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.root, "results.md"), "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
