"""`python -m smat.explain`: a trained teacher explainer on your texts or the run's test
examples, in the terminal, as an HTML page comparing it with other explainers, or as JSON (the
library: smat/trained_explainer.py, smat/attribution.py).

  python -m smat.explain --workdir runs/imdb/smat --text "A gripping film."
  python -m smat.explain --workdir runs/imdb/smat --texts-file reviews.txt --html view.html
  python -m smat.explain --workdir runs/imdb/smat --html view.html --examples 8
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from smat import runs
from smat.attribution import Attributions, write_page
from smat.errors import ConfigError
from smat.saved_explainers import load_teacher_explainer
from smat.trained_explainer import TrainedExplainer

BASELINES = "attention,gradient_x_input,integrated_gradients"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m smat.explain",
        description=(
            "Explain texts (or the run's test examples) with a student run's teacher explainer, "
            "beside parameter-free baselines of the same teacher and other runs' explainers: "
            "terminal heatmaps, an HTML page, or JSON."
        ),
    )
    p.add_argument("--workdir", required=True, help="a student run (static or SMAT)")
    p.add_argument("--text", action="append", default=[], help="a text to explain (repeat)")
    p.add_argument(
        "--texts-file",
        help="a UTF-8 file of texts to explain, one per line (a tab separates a sentence pair)",
    )
    p.add_argument("--html", help="write a page comparing the explainers to this file")
    p.add_argument("--json", help="write the run's explainer's attributions to this JSON file")
    p.add_argument(
        "--examples", type=int, default=8, help="without texts: test examples on the page"
    )
    p.add_argument("--compare", action="append", default=[], help="more runs to put beside it")
    p.add_argument(
        "--baselines",
        default=BASELINES,
        help=f"parameter-free explainers of the same teacher, comma-separated ('' for none; "
        f"default {BASELINES})",
    )
    p.add_argument(
        "--target", type=int, help="class the gradient explainers explain (default: predicted)"
    )
    p.add_argument(
        "--aggregate",
        choices=("token", "word"),
        default="token",
        help="show tokens, or words (their tokens' scores summed; needs texts)",
    )
    p.add_argument(
        "--raw", action="store_true", help="raw (signed) scores instead of distributions"
    )
    p.add_argument(
        "--ig-baseline",
        default=None,
        help="integrated gradients' baseline: zero, pad, mask or a token id (default: zero)",
    )
    return p


def _texts(args) -> list[str | tuple[str, str]]:
    texts: list[str | tuple[str, str]] = list(args.text)
    if args.texts_file:
        if not os.path.isfile(args.texts_file):
            raise ConfigError(f"--texts-file {args.texts_file!r}: no such file")
        with open(args.texts_file, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if line.strip():
                    texts.append(tuple(line.split("\t", 1)) if "\t" in line else line)
    return texts


def _explain(ex: TrainedExplainer, inputs, args) -> Attributions:
    """One explainer's attributions of a list of texts or a batch (so always a list), with the
    target and IG baseline where they apply."""
    method = ex.explainer_config["name"]
    return ex.explain(
        inputs,
        target=args.target if ex.explains_a_class else None,
        aggregate=args.aggregate,
        normalize=not args.raw,
        baseline=args.ig_baseline if method == "integrated_gradients" else None,
    )


def _explainers(args, main: TrainedExplainer) -> dict[str, TrainedExplainer]:
    from smat import config as config_lib

    label = "learned (SMAT)" if main.learnable else "static"
    named = {f"{main.explainer_config['name']} ({label})": main}
    for w in args.compare:
        ex = load_teacher_explainer(w)
        run_name = "/".join(os.path.normpath(w).split(os.sep)[-2:])
        named[f"{ex.explainer_config['name']} ({run_name})"] = ex
    for name in filter(None, args.baselines.split(",")):
        section = config_lib.explainer_section(name.strip()).to_dict()
        named[f"{name} (static)" if name == "attention" else name] = main.with_explainer(section)
    return named


def _test_examples(args, main: TrainedExplainer):
    """(a batch of the run's first test examples, a header per example)."""
    from smat import data as data_lib

    config = runs.run_config(args.workdir)
    test = data_lib.load(config, tokenizer_file=main.tokenizer_file).splits["student_test"]
    take = np.arange(min(args.examples, len(test)))
    batch = data_lib.input_arrays(test.arrays, take)
    pred = main.predict(batch).argmax(-1)
    headers = [
        f"test example {int(test.arrays['index'][i])}: teacher predicts {int(pred[row])}, "
        f"gold label {int(test.arrays['label'][i])}"
        for row, i in enumerate(take)
    ]
    return batch, headers


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        texts = _texts(args)
        if not (texts or args.html):
            raise ConfigError("nothing to do: give --text, --texts-file and/or --html")
        if args.aggregate == "word" and not texts:
            raise ConfigError("--aggregate=word needs texts (--text or --texts-file)")
        main_explainer = load_teacher_explainer(args.workdir)
        if main_explainer.tokenizer is None:
            raise ConfigError(
                f"{args.workdir!r} is an image run: draw its explanations with "
                "python -m smat.patch_heatmaps --workdir ... --out patches.png"
            )
        named = _explainers(args, main_explainer) if args.html else {}
        headers = None
        inputs = texts
        if not texts:
            inputs, headers = _test_examples(args, main_explainer)
        mine = _explain(main_explainer, inputs, args)
    except (ConfigError, ValueError) as e:
        print(f"explain error: {e}", file=sys.stderr)
        return 2
    if texts:
        mine.show()
    if args.json:
        mine.save(args.json)
        print(f"wrote {args.json} ({len(mine)} attributions)")
    if args.html:
        columns = {
            name: mine if ex is main_explainer else _explain(ex, inputs, args)
            for name, ex in named.items()
        }
        subtitle = f"teacher of {args.workdir}"
        write_page(args.html, columns, headers, subtitle=subtitle)
        print(f"wrote {args.html} ({len(mine)} examples, {len(columns)} explainers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
