"""`export`: a study folder from a CLI student run — test examples, the teacher's predictions
and each explainer's heatmap of the same teacher.

Explainer names: `learned` (the SMAT run's learned teacher explainer), `attention_all` (static
attention, every layer and head mixed uniformly) or any registered explainer
(`smat.explainers.EXPLAINERS`: attention, gradient_x_input, integrated_gradients, ...).
"""

from __future__ import annotations

import numpy as np

from smat import config as config_lib
from smat import data as data_lib
from smat import explainers, runs
from smat.annotate.study import Item, Study, write_study
from smat.errors import ConfigError
from smat.saved_explainers import load_teacher_explainer
from smat.trained_explainer import TrainedExplainer

LEARNED = "learned"
ALIASES = {"attention_all": "attention"}
DEFAULT_EXPLAINERS = "learned,attention_all,integrated_gradients,gradient_x_input"


def named_explainers(run: TrainedExplainer, names: list[str]) -> dict[str, TrainedExplainer]:
    """The run's teacher explainers by study name (see the module docstring)."""
    out = {}
    for name in names:
        if name == LEARNED:
            if not run.learnable:
                raise ConfigError(
                    f"'{LEARNED}' needs a SMAT (learnable_teacher) run; this run's static "
                    f"explainer is {run.explainer_config['name']!r}: list it by name instead"
                )
            out[name] = run
        elif ALIASES.get(name, name) in explainers.EXPLAINERS and name != "none":
            section = config_lib.explainer_section(ALIASES.get(name, name))
            out[name] = run.with_explainer(section.to_dict())
        else:
            known = ", ".join(
                [LEARNED, *ALIASES, *(n for n in explainers.EXPLAINERS if n != "none")]
            )
            raise ConfigError(f"unknown explainer {name!r} for a study; known: {known}")
    return out


def _shown(config, value: np.ndarray) -> str:
    """A teacher output or gold label as annotators read it."""
    if config.task == "regression":
        return f"{float(np.ravel(value)[0]):.2f}"
    return data_lib.class_name(config.data.name, int(value))


def export(workdir: str, names: list[str], n: int, out: str, seed: int = 0) -> Study:
    """Writes a study of `n` random student-test examples of the run in `workdir` to `out`."""
    if n < 1:
        raise ConfigError(f"--n {n}: export at least one example")
    run = load_teacher_explainer(workdir)
    config = runs.run_config(workdir)
    named = named_explainers(run, names)
    test = data_lib.load(config, tokenizer_file=run.tokenizer_file).splits["student_test"]
    rows = np.sort(np.random.default_rng(seed).choice(len(test), min(n, len(test)), replace=False))
    batch = data_lib.input_arrays(test.arrays, rows)
    scores = {name: ex.scores(batch) for name, ex in named.items()}
    outputs = run.predict(batch)
    if config.task == "regression":
        predictions = [_shown(config, o) for o in outputs]
    else:
        probs = np.exp(outputs - outputs.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        predictions = [
            f"{_shown(config, p.argmax())} ({100 * p.max():.0f}% confident)" for p in probs
        ]
    template = set(run.tokenizer.encode("").ids) if run.tokenizer else set()  # [CLS], [SEP]
    items = []
    for j, i in enumerate(rows):
        common = dict(
            id=f"test{int(test.arrays['index'][i])}",
            prediction=predictions[j],
            gold=_shown(config, test.arrays["label"][i]),
        )
        if "pixels" in batch:
            s = {name: e[j] for name, e in scores.items()}
            items.append(Item(**common, scores=s, image=batch["pixels"][j]))
            continue
        # Annotators judge the words: the template's special tokens are left out.
        keep = [
            k
            for k in range(int(batch["attention_mask"][j].sum()))
            if int(batch["input_ids"][j, k]) not in template
        ]
        tokens = [run.tokenizer.id_to_token(int(batch["input_ids"][j, k])) for k in keep]
        s = {name: e[j, keep] for name, e in scores.items()}
        items.append(Item(**common, scores=s, tokens=tokens))
    return write_study(out, items, list(named), source=workdir, seed=seed)
