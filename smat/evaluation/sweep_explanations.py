"""Faithfulness (and, with human rationales, plausibility) of every teacher explainer of a sweep.

Every explainer of a sweep explains the same teacher; a static one is evaluated once, a
learned one (SMAT) once per cell, since its head weights differ per seed and size. A `random`
row (token scores drawn uniformly) is the reference a useful explainer must beat. Results go to
`<root>/explanations.json`, which `smat.report` turns into a table.

Plausibility needs token rationales: give an ERASER-format folder (`smat.data.eraser`, e.g. the
movie rationales), or for quality estimation a folder of MLQE-PE word-level files whose BAD
translation words are the rationale (`smat.data.mlqe.read_word_tags`). Documents are tokenised
word by word with the teacher's tokenizer so that word-piece scores can be summed into words.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from smat import checkpointing, runs
from smat import data as data_lib
from smat import workdir as workdir_lib
from smat.data.eraser import read_eraser
from smat.data.mlqe import read_word_tags
from smat.data.tokenization import as_arrays
from smat.evaluation import faithfulness, plausibility

RESULTS = "explanations.json"
RANDOM = "random"


def _test_batch(config, tokenizer_file: str, examples: int) -> dict[str, np.ndarray]:
    """The first `examples` student-test examples of a student config."""
    test = data_lib.load(config, tokenizer_file=tokenizer_file).splits["student_test"]
    take = np.arange(min(examples, len(test)))
    return data_lib.input_arrays(test.arrays, take)


def _rationale_batch(explainer, folder: str, examples: int):
    """ERASER test documents as a token batch, with word ids and word rationales."""
    docs = read_eraser(folder, "test")[:examples]
    encodings = explainer.tokenizer.encode_batch([d.words for d in docs], is_pretokenized=True)
    return as_arrays(encodings), [e.word_ids for e in encodings], [d.rationale for d in docs]


def _word_tag_batch(explainer, folder: str, examples: int):
    """MLQE-PE word-level pairs as a token batch; the rationale is the BAD translation words
    (source tokens get no word: only the translation's words are scored)."""
    pairs = read_word_tags(folder)[:examples]
    encodings = explainer.tokenizer.encode_batch(
        [(p.source, p.translation) for p in pairs], is_pretokenized=True
    )
    word_ids = [
        [w if s == 1 else None for w, s in zip(e.word_ids, e.sequence_ids, strict=True)]
        for e in encodings
    ]
    return as_arrays(encodings), word_ids, [p.bad for p in pairs]


def evaluate(
    root: str,
    examples: int = 200,
    eraser: str | None = None,
    seed: int = 0,
    word_tags: str | None = None,
) -> list[dict[str, Any]]:
    """Evaluates the teacher explainers of the sweep at `root`; writes and returns the rows.

    Static explainers need only the sweep's teacher (their cells need not have run); learned
    ones are read from finished cells. Rows: {"explainer", "num_examples" (None for static
    explainers), "cells", and the mean over cells of comprehensiveness/sufficiency per
    fraction, their AOPC and, with `eraser` (ERASER rationales) or `word_tags` (MLQE-PE BAD
    words), plausibility AUC / AP / recall@k / mass}.
    """
    from smat.saved_explainers import teacher_explainer
    from smat.sweeps import manifest as manifest_lib
    from smat.sweeps import spec

    cells = manifest_lib.manifest_cells(root)
    groups: dict[tuple[str, int | None], list[dict[str, float]]] = {}
    static_done: set[str] = set()
    teacher = None  # every cell shares the sweep's teacher: loaded once
    reference = None  # (batch, rationale inputs), from the first explainer evaluated
    for cell in cells:
        config = spec.cell_config(cell, root)
        explainer_config = config.teacher_explainer.to_dict()
        if explainer_config["name"] == "none" or config.beta == 0:
            continue
        learned = config.setup == "learnable_teacher"
        workdir = spec.cell_dir(root, cell)
        if learned and not workdir_lib.finished(workdir):
            continue  # not finished: `smat.report` lists it as missing
        key = json.dumps(explainer_config, sort_keys=True)
        if not learned and key in static_done:
            continue
        static_done.add(key)
        if teacher is None:
            teacher = teacher_explainer(config.teacher_workdir, explainer_config)
        phi = runs.restore_best_of(workdir)["phi"] if learned else None
        explainer = teacher.with_explainer(explainer_config, learned, phi)
        if reference is None:
            batch = _test_batch(config, explainer.tokenizer_file, examples)
            rationale = None
            if eraser:
                rationale = _rationale_batch(explainer, eraser, examples)
            elif word_tags:
                rationale = _word_tag_batch(explainer, word_tags, examples)
            reference = (batch, rationale)
        n = cell.labels["num_examples"] if learned else None
        groups.setdefault((cell.labels["explainer"], n), []).append(
            _metrics(explainer, *reference, explainer.scores)
        )
    if reference is None:
        raise FileNotFoundError(f"{root}: no teacher explainer to evaluate (none, or not run)")
    rng = np.random.default_rng(seed)
    groups[(RANDOM, None)] = [
        _metrics(explainer, *reference, lambda b: rng.uniform(size=b["attention_mask"].shape))
    ]
    rows = [
        {
            "explainer": label,
            "num_examples": n,
            "cells": len(ms),
            **{k: float(np.mean([m[k] for m in ms])) for k in ms[0]},
        }
        for (label, n), ms in groups.items()
    ]
    checkpointing.write_json(
        os.path.join(root, RESULTS),
        {
            "test_examples": int(len(reference[0]["attention_mask"])),
            "eraser": eraser,
            "word_tags": word_tags,
            "rows": rows,
        },
    )
    return rows


def _metrics(explainer, batch, rationale, explain) -> dict[str, float]:
    scores = np.asarray(explain(batch))
    out = faithfulness.evaluate(explainer.model.apply, explainer.params, batch, scores)
    if rationale is not None:
        r_batch, word_ids, gold = rationale
        p = plausibility.evaluate(np.asarray(explain(r_batch)), word_ids, gold)
        out.update({f"plausibility_{k}": float(v) for k, v in p.items() if k != "examples"})
    return out


def table(results: dict[str, Any]) -> list[str]:
    """Markdown lines for `smat.report`."""
    rows = results["rows"]
    plaus = "plausibility_auc" in rows[0]
    head = "| explainer | examples | cells | comprehensiveness AOPC ↑ | sufficiency AOPC ↓ |"
    rule = "|---|---|---|---|---|"
    if plaus:
        head += " rationale AUC ↑ | AP ↑ | recall@k ↑ |"
        rule += "---|---|---|"
    lines = [
        "",
        f"Teacher explanations on {results['test_examples']} test examples: faithfulness "
        "(ERASER: the drop of the predicted class' probability, or for regression the change of "
        "the output, when the top 1/5/10/20/50% tokens are removed, or kept alone; AOPC = mean "
        "over fractions)"
        + (
            f", plausibility against the rationales in "
            f"`{results['eraser'] or results.get('word_tags')}`"
            if plaus
            else ""
        )
        + ". Learned explainers: mean over seeds.",
        "",
        head,
        rule,
    ]
    for r in rows:
        line = (
            f"| {r['explainer']} | {r['num_examples'] or 'any'} | {r['cells']} | "
            f"{r['comprehensiveness_aopc']:.4f} | {r['sufficiency_aopc']:.4f} |"
        )
        if plaus:
            line += (
                f" {r['plausibility_auc']:.4f} | {r['plausibility_ap']:.4f} | "
                f"{r['plausibility_recall_at_k']:.4f} |"
            )
        lines.append(line)
    return lines
