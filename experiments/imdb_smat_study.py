"""Can a learned explainer teach better than a fixed one? The IMDB SMAT study (issue 16).

  python -m smat.sweep experiments/imdb_smat_study.py --root runs/smat_study   # ~2.5 h, 2 cores
  python experiments/imdb_smat_study.py rank-heads --root runs/smat_study      # ~6 min
  python -m smat.report runs/smat_study

Every student uses the CPU default protocol (configs/imdb_static.py / imdb_learnable.py:
the first 2 MiniLM layers, 24 heads, 500 reviews, 5 epochs, AdamW 5e-5, β = 5) unless its
label says otherwise; one teacher for all. The cells run most-needed first (a sweep cut short
still answers the main question). Parts (cell label `part`):

  headroom  static students taught by no explanation, the uniform mix of all 24 heads (seeds
            0-2 and the transfer seeds 10-12), each layer alone and 8 single heads
            (`L<l>H<h>`, 2 seeds): 3 per layer spread over the 12, plus the heads that
            `rank-heads` (a cheap criterion: how far fine-tuning moved the head's explanation
            away from the pretrained model's) ranks first (L1H7) and last (L0H7).
  smat      SMAT (meta AdamW 5e-4, the paper's; seeds 0-2); SMAT differentiating through a
            plain SGD step with a 128-example validation batch (`smat_sgdsim_v128`, seeds
            0-2: the variant that finds the cue heads in experiments/synthetic_distractors.py);
            meta learning rates 2e-3 and 1e-2 (seed 0).
  transfer  the explainer each SMAT seed learned (both kinds), frozen, teaching fresh
            students (seeds 10-12), against uniform attention on the same seeds.
  cost      SMAT with the online hypergradient, a meta-step every 2 and 4 steps, and an
            8-example validation batch (seed 0).
  psi       the student explainer ψ with an optimiser of its own (AdamW 1e-2, `_psi` labels)
            instead of the student's AdamW 5e-5, for uniform attention and for SMAT (seed 0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from smat.sweep import Cell, Sweep

STATIC, LEARNABLE = "../configs/imdb_static.py:default", "../configs/imdb_learnable.py:default"
BETA = 5.0
N = 500
LAYERS, HEADS = 2, 12
PSI = {"explainer_optim.name": "adamw", "explainer_optim.learning_rate": 1e-2}
META_LRS = {"smat": 5e-4, "smat_lr2e-3": 2e-3, "smat_lr1e-2": 1e-2}
COST = {
    "online": {"meta.hypergradient": "online"},
    "every2": {"meta.interval": 2},
    "every4": {"meta.interval": 4},
    "valid8": {"meta.valid_batch_size": 8},
}
SGDSIM = {"beta": BETA, "meta.simulated_update": "sgd", "meta.valid_batch_size": 128}
TRANSFER_SEEDS = (10, 11, 12)  # fresh students, none of them a SMAT cell's own student
SEEDS = (0, 1, 2)
HEAD_SEEDS = (0, 1)
# Single heads: 3 per layer spread over the 12, plus the heads `rank-heads` ranks first (L1H7)
# and last (L0H7) on this teacher.
HEAD_SAMPLE = ((0, 0), (0, 4), (0, 7), (0, 10), (1, 0), (1, 4), (1, 7), (1, 10))


def _cell(label: str, part: str, config: str, overrides: dict, seed: int) -> Cell:
    return Cell(
        name=f"n{N}/{label}/seed{seed}",
        config=config,
        overrides={**overrides, "num_examples": float(N), "seed": seed},
        labels={"explainer": label, "num_examples": N, "seed": seed, "part": part},
    )


def _attention(**fields) -> dict:
    return {"beta": BETA, "teacher_explainer.name": "attention", **fields}


def cells() -> list[Cell]:
    """In the order they run, most needed first, so a sweep cut short still answers the main
    question (SMAT and its transfer against uniform attention, 3 seeds each)."""
    static = {
        "none": {"beta": 0.0, "teacher_explainer.name": "none"},
        "attention_all": _attention(),
        **{f"layer{ly}": _attention(**{"teacher_explainer.layer": ly}) for ly in range(LAYERS)},
        **{
            f"L{ly}H{h}": _attention(**{"teacher_explainer.layer": ly, "teacher_explainer.head": h})
            for ly, h in HEAD_SAMPLE
        },
    }
    smat = {label: {"beta": BETA, "meta.optim.learning_rate": lr} for label, lr in META_LRS.items()}
    out = [_cell("none", "headroom", STATIC, static["none"], s) for s in SEEDS]
    out += [_cell("attention_all", "headroom", STATIC, static["attention_all"], s) for s in SEEDS]
    out += [_cell("smat", "smat", LEARNABLE, smat["smat"], s) for s in SEEDS]
    # The variant that found the cue heads on the synthetic distractor task.
    out += [_cell("smat_sgdsim_v128", "smat", LEARNABLE, SGDSIM, s) for s in SEEDS[:2]]
    out += [
        _cell("attention_all", "headroom", STATIC, static["attention_all"], s)
        for s in TRANSFER_SEEDS
    ]
    for source, seed in zip(SEEDS, TRANSFER_SEEDS, strict=True):
        from_run = {"teacher_explainer.from_run": f"cell:n{N}/smat/seed{source}"}
        out.append(_cell("transfer_smat", "transfer", STATIC, {**_attention(), **from_run}, seed))
    # It moves φ far on IMDB, but the student's ψ stays uniform under AdamW 5e-5: with ψ free?
    out.append(_cell("smat_sgdsim_v128_psi", "psi", LEARNABLE, {**SGDSIM, **PSI}, 0))
    out.append(_cell("smat_sgdsim_v128", "smat", LEARNABLE, SGDSIM, SEEDS[2]))
    layers = [
        _cell(f"layer{ly}", "headroom", STATIC, static[f"layer{ly}"], 0) for ly in range(LAYERS)
    ]
    heads = {
        s: [
            _cell(f"L{ly}H{h}", "headroom", STATIC, static[f"L{ly}H{h}"], s)
            for ly, h in HEAD_SAMPLE
        ]
        for s in HEAD_SEEDS
    }
    out += layers
    for label, overrides in COST.items():
        out.append(_cell(f"smat_{label}", "cost", LEARNABLE, {"beta": BETA, **overrides}, 0))
    for source, seed in zip(SEEDS, TRANSFER_SEEDS, strict=True):
        from_run = {"teacher_explainer.from_run": f"cell:n{N}/smat_sgdsim_v128/seed{source}"}
        overrides = {**_attention(), **from_run}
        out.append(_cell("transfer_smat_sgdsim_v128", "transfer", STATIC, overrides, seed))
    out += heads[0]
    out += [
        _cell(f"layer{ly}", "headroom", STATIC, static[f"layer{ly}"], 1) for ly in range(LAYERS)
    ]
    out += [
        _cell(label, "smat", LEARNABLE, smat[label], 0) for label in META_LRS if label != "smat"
    ]
    out.append(_cell("attention_all_psi", "psi", STATIC, {**_attention(), **PSI}, 0))
    out.append(_cell("smat_psi", "psi", LEARNABLE, {**smat["smat"], **PSI}, 0))
    out += heads[1]
    return out


def get_sweep(variant: str) -> Sweep:
    if variant != "cpu":
        raise ValueError(f"unknown variant {variant!r}; known: cpu")
    return Sweep(cells=cells(), description=__doc__.split("\n\n")[0])


def rank_heads(root: str, examples: int = 500) -> list[dict]:
    """Heads ranked by how far fine-tuning moved their explanations: the mean KL between the
    teacher's single-head explanation and the pretrained (untuned) model's, on the first
    `examples` student-training reviews. No student is trained. Writes
    `<root>/head_ranking.json`."""
    import jax
    import numpy as np

    from smat import checkpointing, explainers, models
    from smat import config as config_lib
    from smat import data as data_lib
    from smat.simulation import explanation_kl
    from smat.trainers.common import init_params

    teacher_dir = os.path.join(root, "teacher")
    module, params, tokenizer_file, t_config = checkpointing.load_trained_model(teacher_dir)
    c = config_lib.from_file(os.path.join(os.path.dirname(__file__), STATIC))
    splits = data_lib.load(c, tokenizer_file=tokenizer_file).splits
    batch = data_lib.input_arrays(splits["student_train"].arrays, slice(0, examples))
    inputs, mask = data_lib.model_inputs(batch)
    pretrained = models.build_model(c.model, 2, data_lib.vocab_size(splits.values()))
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ("data",))
    p0 = init_params(pretrained, batch, jax.random.PRNGKey(0), mesh)
    scores = []
    for layer in range(LAYERS):
        for head in range(HEADS):
            ex = explainers.AttentionExplainer(layer=layer, head=head)
            kls = []
            for start in range(0, examples, 50):
                sl = slice(start, start + 50)
                pair = [
                    ex.explain(
                        ex.init(1, 1),
                        ex.features(
                            m.apply({"params": p}, inputs[sl], mask[sl]).attention_logits, mask[sl]
                        ),
                        mask[sl],
                    )
                    for m, p in ((module, params), (pretrained.module, p0))
                ]
                kls.append(np.asarray(explanation_kl(*pair)))
            scores.append({"head": f"L{layer}H{head}", "kl": float(np.concatenate(kls).mean())})
    scores.sort(key=lambda s: -s["kl"])
    with open(os.path.join(root, "head_ranking.json"), "w") as f:
        json.dump(scores, f, indent=1)
    return scores


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["rank-heads"])
    parser.add_argument("--root", required=True)
    args = parser.parse_args()
    ranking = rank_heads(args.root)
    for s in ranking:
        print(f"{s['head']}\t{s['kl']:.4f}")
    sys.exit(0)
