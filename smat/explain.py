"""`python -m smat.explain`: a trained teacher explainer's token scores, in the terminal or as
an HTML page comparing it with other explainers (the library: smat/trained_explainer.py,
smat/heatmaps.py).

  python -m smat.explain --workdir runs/imdb/smat --text "A gripping film."
  python -m smat.explain --workdir runs/imdb/smat --html view.html --examples 8
"""

from __future__ import annotations

import os

import numpy as np

from smat import runs
from smat.errors import ConfigError
from smat.heatmaps import html_page, terminal_heatmap
from smat.trained_explainer import load_teacher_explainer


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m smat.explain",
        description="Show a trained teacher explainer's token scores (terminal or HTML).",
    )
    parser.add_argument("--workdir", required=True, help="a student run (static or SMAT)")
    parser.add_argument("--text", action="append", default=[], help="text to explain (repeat)")
    parser.add_argument("--html", help="write an HTML page comparing explainers to this file")
    parser.add_argument("--examples", type=int, default=8, help="test examples on the page")
    parser.add_argument(
        "--compare", action="append", default=[], help="more student runs to put beside it"
    )
    parser.add_argument(
        "--baselines",
        default="attention,gradient_x_input,integrated_gradients",
        help="parameter-free explainers of the same teacher (comma-separated; '' for none)",
    )
    args = parser.parse_args(argv)
    try:
        main_explainer = load_teacher_explainer(args.workdir)
        if main_explainer.tokenizer is None:
            raise ConfigError(
                f"{args.workdir!r} is an image run: draw its explanations with "
                "python -m smat.patch_heatmaps --workdir ... --out patches.png"
            )
        others = {w: load_teacher_explainer(w) for w in args.compare}
    except ConfigError as e:
        print(f"explain error: {e}", file=sys.stderr)
        return 2
    for text in args.text:
        (pairs,) = main_explainer([text])
        tokens, scores = zip(*pairs, strict=True)
        print(terminal_heatmap(list(tokens), np.asarray(scores)))
    if not args.html:
        if not args.text:
            print("nothing to do: give --text and/or --html", file=sys.stderr)
            return 2
        return 0
    from smat import config as config_lib
    from smat import data as data_lib

    config = runs.run_config(args.workdir)
    test = data_lib.load(config, tokenizer_file=main_explainer.tokenizer_file).splits[
        "student_test"
    ]
    take = np.arange(min(args.examples, len(test)))
    batch = data_lib.input_arrays(test.arrays, take)
    label = "learned (SMAT)" if main_explainer.learnable else "static"
    named = {f"{main_explainer.explainer_config['name']} ({label})": main_explainer}
    for w, ex in others.items():
        run_name = "/".join(os.path.normpath(w).split(os.sep)[-2:])
        named[f"{ex.explainer_config['name']} ({run_name})"] = ex
    for name in filter(None, args.baselines.split(",")):
        named[f"{name} (static)" if name == "attention" else name] = main_explainer.with_explainer(
            config_lib.explainer_section(name).to_dict()
        )
    scores = {name: ex.explain(batch) for name, ex in named.items()}
    pred = main_explainer.predict(batch).argmax(-1)
    tok = main_explainer.tokenizer
    tokens, headers = [], []
    for row, i in enumerate(take):
        n = int(batch["attention_mask"][row].sum())
        tokens.append([tok.id_to_token(int(t)) for t in batch["input_ids"][row][:n]])
        headers.append(
            f"test example {int(test.arrays['index'][i])}: teacher predicts "
            f"{int(pred[row])}, gold label {int(test.arrays['label'][i])}"
        )
    with open(args.html, "w") as f:
        f.write(html_page(tokens, scores, headers, subtitle=f"teacher of {args.workdir}"))
    print(f"wrote {args.html} ({len(tokens)} examples, {len(named)} explainers)")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
