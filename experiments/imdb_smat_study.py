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
  learned_heads  (`deep`) the heads SMAT's seeds agreed on, each alone as a static explainer;
            and transfer of each restarted seed's explainer cut to its k largest weights
            (`teacher_explainer.top_k`, `_top<k>` labels). SMAT over layer 3's heads only
            (`_layer3`: it starts at the best static explainer), seeds 0-2, and its transfer.

Variant `deep` (`--variant deep --root runs/smat_study_deep`, ~4 h on 2 cores): a teacher
that is the whole fine-tuned 6-layer MiniLM (72 heads, `teacher.model.num_layers=0`; 16 min)
and students that stay the first 2 layers. The paper's teachers are larger than their students
(ELECTRA-base teaching ELECTRA-small); at CPU scale with one architecture for both, the
teacher's attention is the student's own pretrained attention (explanation KL 0.025 at the
start), and no head mix beat the uniform one. Here each layer alone is a headroom cell, and
SMAT's meta learning rate is chosen on validation (`DEEP_CHOSEN`, which then gets 3 seeds,
transfer, cost and ψ cells). The teacher's forward runs once per student example (kept in
`<root>/teacher/outputs/`), so a student step costs what it does in `cpu`.

Variants `deep_seeds` and `deep_k` (issues 30 and 37; same root as `deep`, ~10 h and ~5 h on 2
cores): the decisive comparisons at 10 seeds per arm, fixed before any of them ran, for
statistics with the seed as the unit (`_decisive_cells` lists them in order):

  python -m smat.sweep experiments/imdb_smat_study.py \
      --root runs/smat_study_deep --variant deep_seeds
  python -m smat.sweep experiments/imdb_smat_study.py \
      --root runs/smat_study_deep --variant deep_k
  python experiments/imdb_smat_study.py report --root runs/smat_study_deep \
      --out experiments/results/imdb_smat_study_deep/decisive

The report tests exactly the family `DECISIVE_TESTS` (Holm over it), fixed with the cells,
and archives the cells' predictions beside it (`smat.report --archive`), so
`python -m smat.report experiments/results/imdb_smat_study_deep/decisive/archive ...` recomputes
it. A machine lost part-way (it happened at 83 of 150 cells): in a new root, re-run one archived
cell (`--variant deep_seeds --only n500/layer3/seed0`, which trains the teacher again), then
put the archive's cells back (`--restore experiments/results/imdb_smat_study_deep/decisive/
archive`, once per variant) and go on with the two sweep commands above.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from smat import runs
from smat.sweep import Cell, Sweep

STATIC, LEARNABLE = "../configs/imdb_static.py:default", "../configs/imdb_learnable.py:default"
BETA = 5.0
N = 500
HEADS = 12
LAYERS = {"cpu": 2, "deep": 6}  # teacher layers per variant (students: 2)
DEEP = {"teacher.model.num_layers": 0}  # the whole pretrained encoder
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
REPLICATION, REPLICATION_TRANSFER = (3, 4, 5), (13, 14, 15)  # `deep`: SMAT over layer 3, again
HEAD_SEEDS = (0, 1)
# Single heads: 3 per layer spread over the 12, plus the heads `rank-heads` ranks first (L1H7)
# and last (L0H7) on this teacher.
HEAD_SAMPLE = ((0, 0), (0, 4), (0, 7), (0, 10), (1, 0), (1, 4), (1, 7), (1, 10))
# `deep`: the two heads every restarted SMAT seed (and the 1e-2 run) weighted most: SMAT as a
# head search. Each alone teaches seed 0 (validation picks), then fresh students.
LEARNED_HEADS = ((3, 7), (5, 9))
TOP_K = (2, 1, 4)  # `deep`: a restarted SMAT seed's explainer cut to its k heads, then transfer


def _cell(label: str, part: str, config: str, overrides: dict, seed: int) -> Cell:
    return Cell(
        name=f"n{N}/{label}/seed{seed}",
        config=config,
        overrides={**overrides, "num_examples": float(N), "seed": seed},
        labels={"explainer": label, "num_examples": N, "seed": seed, "part": part},
    )


def _attention(**fields) -> dict:
    return {"beta": BETA, "teacher_explainer.name": "attention", **fields}


def cells(variant: str = "cpu") -> list[Cell]:
    """In the order they run, most needed first, so a sweep cut short still answers the main
    question (`cpu`: SMAT and its transfer against uniform attention, 3 seeds each; `deep`:
    first whether any layer teaches better than the uniform mix)."""
    out = _cpu_cells() if variant == "cpu" else _deep_cells()
    if variant == "deep":
        out = [dataclasses.replace(c, overrides={**c.overrides, **DEEP}) for c in out]
    return out


def _static(layers: int, head_sample) -> dict[str, dict]:
    return {
        "none": {"beta": 0.0, "teacher_explainer.name": "none"},
        "attention_all": _attention(),
        **{f"layer{ly}": _attention(**{"teacher_explainer.layer": ly}) for ly in range(layers)},
        **{
            f"L{ly}H{h}": _attention(**{"teacher_explainer.layer": ly, "teacher_explainer.head": h})
            for ly, h in head_sample
        },
    }


# The meta learning rate of `deep` chosen on validation (seed 0 of 5e-4 / 2e-3 / 1e-2:
# 0.856 / 0.872 / 0.866 validation simulability).
DEEP_CHOSEN = "smat_lr2e-3"
SMAT = {label: {"beta": BETA, "meta.optim.learning_rate": lr} for label, lr in META_LRS.items()}


def _transfer(
    source: str,
    top_k: int = 0,
    layer: int | None = None,
    pairs: tuple[tuple[int, int], ...] = tuple(zip(SEEDS, TRANSFER_SEEDS, strict=True)),
) -> list[Cell]:
    """Fresh students taught by the frozen explainer of each `source` seed (`pairs`: source
    seed, student seed), pruned to its `top_k` largest head weights if > 0; `layer`: the
    source's one layer."""
    pruned = {"teacher_explainer.top_k": top_k} if top_k else {}
    if layer is not None:
        pruned["teacher_explainer.layer"] = layer
    return [
        _cell(
            f"transfer_{source}" + (f"_top{top_k}" if top_k else ""),
            "transfer",
            STATIC,
            {
                **_attention(),
                "teacher_explainer.from_run": f"cell:n{N}/{source}/seed{s}",
                **pruned,
            },
            t,
        )
        for s, t in pairs
    ]


def _deep_cells() -> list[Cell]:
    """Run in this order; the order records how the study went. After seed 0 of the headroom
    cells (layer 3 alone far above the uniform mix) and of the three meta learning rates,
    `DEEP_CHOSEN` had the highest validation simulability: it gets the seeds and the
    transfer cells first."""
    layers = LAYERS["deep"]
    static = _static(layers, LEARNED_HEADS)
    chosen = DEEP_CHOSEN

    def each_layer(seed):
        return [
            _cell(f"layer{ly}", "headroom", STATIC, static[f"layer{ly}"], seed)
            for ly in range(layers)
        ]

    out = [_cell("none", "headroom", STATIC, static["none"], 0)]
    out += [_cell("attention_all", "headroom", STATIC, static["attention_all"], 0)]
    out += each_layer(0)
    out += [_cell("smat", "smat", LEARNABLE, SMAT["smat"], 0)]
    out += [_cell("smat_sgdsim_v128", "smat", LEARNABLE, SGDSIM, 0)]
    out += [_cell("attention_all", "headroom", STATIC, static["attention_all"], s) for s in (1, 2)]
    out += [
        _cell(label, "smat", LEARNABLE, SMAT[label], 0) for label in META_LRS if label != "smat"
    ]
    out += [_cell(chosen, "smat", LEARNABLE, SMAT[chosen], s) for s in (1, 2)]
    out += [_cell("layer3", "headroom", STATIC, static["layer3"], s) for s in (1, 2)]
    out += [
        _cell("attention_all", "headroom", STATIC, static["attention_all"], s)
        for s in TRANSFER_SEEDS
    ]
    out += _transfer(chosen)
    # Its seeds disagree on the heads (meta-gradient noise): a 128-example outer batch.
    v128 = {**SMAT[chosen], "meta.valid_batch_size": 128}
    out.append(_cell(f"{chosen}_v128", "smat", LEARNABLE, v128, 0))
    for label, overrides in COST.items():
        cost = {**SMAT[chosen], **overrides}
        out.append(_cell(f"{chosen}_{label}", "cost", LEARNABLE, cost, 0))
    out.append(_cell("attention_all_psi", "psi", STATIC, {**_attention(), **PSI}, 0))
    out.append(_cell(f"{chosen}_psi", "psi", LEARNABLE, {**SMAT[chosen], **PSI}, 0))
    out += [
        _cell(f"layer{ly}", "headroom", STATIC, static[f"layer{ly}"], 1)
        for ly in range(layers)
        if ly != 3
    ]
    out += [_cell("none", "headroom", STATIC, static["none"], s) for s in (1, 2)]
    out += [_cell("smat", "smat", LEARNABLE, SMAT["smat"], s) for s in (1, 2)]
    out += [_cell("layer3", "headroom", STATIC, static["layer3"], s) for s in TRANSFER_SEEDS]
    out += [_cell("smat_sgdsim_v128", "smat", LEARNABLE, SGDSIM, s) for s in (1, 2)]
    out += _transfer("smat") + _transfer("smat_sgdsim_v128")
    # Is φ budget-bound? Each seed's learned explainer restarts SMAT with a fresh student of the
    # same seed (155 more meta-steps), then teaches fresh students, frozen.
    restart = f"{chosen}_restart"
    out += [
        _cell(
            restart,
            "smat",
            LEARNABLE,
            {**SMAT[chosen], "teacher_explainer.from_run": f"cell:n{N}/{chosen}/seed{s}"},
            s,
        )
        for s in SEEDS
    ]
    out += _transfer(restart)
    # Picked from what SMAT learned: the report keeps them out of the best-static choice.
    out += [
        dataclasses.replace(c, labels={**c.labels, "kind": "derived"})
        for c in (
            _cell(f"L{ly}H{h}", "learned_heads", STATIC, static[f"L{ly}H{h}"], 0)
            for ly, h in LEARNED_HEADS
        )
    ]
    # Each restarted seed's explainer pruned to its k largest weights (`top_k`; k on validation).
    out += [c for k in TOP_K for c in _transfer(restart, k)]
    # Can SMAT improve on the best static explainer when it starts there? φ over layer 3's 12
    # heads only, starting uniform (= layer 3, the best on validation), then transfer.
    in_layer3, smat_in_layer3 = f"{chosen}_layer3", {**SMAT[chosen], "teacher_explainer.layer": 3}
    out += [_cell(in_layer3, "smat", LEARNABLE, smat_in_layer3, s) for s in SEEDS]
    out += _transfer(in_layer3, layer=3)
    # It beat layer 3 co-trained (p = 0.03) and pointed the same way in transfer (p = 0.07),
    # after 9 variants had been compared with layer 3: a replication on new seeds, fixed
    # before it ran, decides (layer 3 and SMAT on 3-5, transfer to 13-15).
    out += [_cell("layer3", "headroom", STATIC, static["layer3"], s) for s in REPLICATION]
    out += [_cell(in_layer3, "smat", LEARNABLE, smat_in_layer3, s) for s in REPLICATION]
    replicate = tuple(zip(REPLICATION, REPLICATION_TRANSFER, strict=True))
    out += _transfer(in_layer3, layer=3, pairs=replicate)
    out += [_cell("layer3", "headroom", STATIC, static["layer3"], s) for s in REPLICATION_TRANSFER]
    return out


def _cpu_cells() -> list[Cell]:
    layers = LAYERS["cpu"]
    static = _static(layers, HEAD_SAMPLE)
    out = [_cell("none", "headroom", STATIC, static["none"], s) for s in SEEDS]
    out += [_cell("attention_all", "headroom", STATIC, static["attention_all"], s) for s in SEEDS]
    out += [_cell("smat", "smat", LEARNABLE, SMAT["smat"], s) for s in SEEDS]
    # The variant that found the cue heads on the synthetic distractor task.
    out += [_cell("smat_sgdsim_v128", "smat", LEARNABLE, SGDSIM, s) for s in SEEDS[:2]]
    out += [
        _cell("attention_all", "headroom", STATIC, static["attention_all"], s)
        for s in TRANSFER_SEEDS
    ]
    out += _transfer("smat")
    # It moves φ far on IMDB, but the student's ψ stays uniform under AdamW 5e-5: with ψ free?
    out.append(_cell("smat_sgdsim_v128_psi", "psi", LEARNABLE, {**SGDSIM, **PSI}, 0))
    out.append(_cell("smat_sgdsim_v128", "smat", LEARNABLE, SGDSIM, SEEDS[2]))
    heads = {
        s: [
            _cell(f"L{ly}H{h}", "headroom", STATIC, static[f"L{ly}H{h}"], s)
            for ly, h in HEAD_SAMPLE
        ]
        for s in HEAD_SEEDS
    }
    out += [
        _cell(f"layer{ly}", "headroom", STATIC, static[f"layer{ly}"], 0) for ly in range(layers)
    ]
    for label, overrides in COST.items():
        out.append(_cell(f"smat_{label}", "cost", LEARNABLE, {"beta": BETA, **overrides}, 0))
    out += _transfer("smat_sgdsim_v128")
    out += heads[0]
    out += [
        _cell(f"layer{ly}", "headroom", STATIC, static[f"layer{ly}"], 1) for ly in range(layers)
    ]
    out += [
        _cell(label, "smat", LEARNABLE, SMAT[label], 0) for label in META_LRS if label != "smat"
    ]
    out.append(_cell("attention_all_psi", "psi", STATIC, {**_attention(), **PSI}, 0))
    out.append(_cell("smat_psi", "psi", LEARNABLE, {**SMAT["smat"], **PSI}, 0))
    out += heads[1]
    return out


# Issues 30 and 37: the decisive comparisons at the seed level, fixed here before any of their
# cells ran. Every arm has 10 seeds (a sign-flip test over 10 pairs reaches p = 0.002; the
# earlier 6-seed difference SMAT-in-layer-3 minus layer 3, +0.0047 at sd 0.0048, needs about 10
# for 80% power). Co-trained arms use seeds 0-9; frozen explainers teach fresh students 10-19
# (run s teaches student 10 + s), against layer 3 on those seeds. Every earlier cell of the deep
# study was lost with its machine, so these all run on one code version, teacher included.
DECISIVE_SEEDS = tuple(range(10))
DECISIVE_FRESH = tuple(range(10, 20))
K_STUDENTS = 4  # issue 37: students sharing one explainer (`meta.num_students`)


SEARCH = "layer[0-5]"  # the search SMAT saves: every layer alone, validation picks per seed
# The pre-registered family of tests (explainer, baseline), Holm-adjusted together: issue 30's
# decisive comparisons, issue 37's (K = 4 students against one, co-trained and frozen, and
# time to quality against the search), and the headroom the study rests on.
DECISIVE_TESTS = (
    (f"{DEEP_CHOSEN}_layer3", "layer3"),
    (f"transfer_{DEEP_CHOSEN}_layer3", "layer3"),
    (DEEP_CHOSEN, "attention_all"),
    (DEEP_CHOSEN, "layer3"),
    (f"{DEEP_CHOSEN}_restart", "layer3"),
    (f"transfer_{DEEP_CHOSEN}", "layer3"),
    (f"{DEEP_CHOSEN}_k{K_STUDENTS}", "layer3"),
    (f"transfer_{DEEP_CHOSEN}_k{K_STUDENTS}", "layer3"),
    (f"{DEEP_CHOSEN}_k{K_STUDENTS}", DEEP_CHOSEN),
    (f"transfer_{DEEP_CHOSEN}_k{K_STUDENTS}", f"transfer_{DEEP_CHOSEN}"),
    (DEEP_CHOSEN, f"search:{SEARCH}"),
    (f"{DEEP_CHOSEN}_k{K_STUDENTS}", f"search:{SEARCH}"),
    ("layer3", "attention_all"),
)


def report(root: str, out: str, bootstrap: int = 1000) -> dict:
    """The deep comparisons' report (cells of `deep_seeds` and `deep_k` only) with exactly the
    pre-registered family, into `out`, and the archive that recomputes it (`out`/archive)."""
    from smat import report as report_lib

    names = [c.name for variant in ("deep_seeds", "deep_k") for c in get_sweep(variant).cells]
    return report_lib.write(
        root,
        bootstrap,
        only=names,
        out=out,
        search=[SEARCH],
        compare_pairs=list(DECISIVE_TESTS),
        archive=os.path.join(out, "archive"),
        default_tests=False,
    )


def _decisive_cells(k_students: bool) -> list[Cell]:
    """`deep_seeds` (k_students False): in the order the questions matter, seeds interleaved
    within each so that a sweep cut short still has paired seeds:
      1. SMAT over layer 3 (co-trained) vs layer 3;
      2. SMAT over all 72 heads (the `deep` choice, one student) vs the uniform mix and layer 3;
      3. SMAT over layer 3's explainer, frozen, teaching fresh students vs layer 3 on them;
      4. the same for SMAT over 72 heads (issue 37's K = 1 transfer arm);
      5. SMAT over 72 heads restarted from its own explainer vs layer 3;
      6. the search SMAT saves: every other layer alone (with layer 3: 6 static runs per seed,
         validation picks), for time-to-quality.
    `deep_k` (k_students True, issue 37): SMAT over 72 heads with `K_STUDENTS` students sharing
    one explainer, co-trained (seeds 0-9) and frozen teaching fresh students (10-19); its K = 1
    arms are `deep_seeds`' 2 and 4."""
    static = _static(LAYERS["deep"], ())
    chosen, in_layer3 = DEEP_CHOSEN, f"{DEEP_CHOSEN}_layer3"
    pairs = tuple(zip(DECISIVE_SEEDS, DECISIVE_FRESH, strict=True))

    def static_cell(label, seed):
        return _cell(label, "headroom", STATIC, static[label], seed)

    def smat_cell(label, overrides, seed):
        return _cell(label, "smat", LEARNABLE, {**SMAT[chosen], **overrides}, seed)

    if k_students:
        label = f"{chosen}_k{K_STUDENTS}"
        out = [smat_cell(label, {"meta.num_students": K_STUDENTS}, s) for s in DECISIVE_SEEDS]
        return out + _transfer(label, pairs=pairs)
    out = []
    for s in DECISIVE_SEEDS:
        out += [static_cell("layer3", s), smat_cell(in_layer3, {"teacher_explainer.layer": 3}, s)]
    for s in DECISIVE_SEEDS:
        out += [static_cell("attention_all", s), smat_cell(chosen, {}, s)]
    layer3_transfer = _transfer(in_layer3, layer=3, pairs=pairs)
    for t, cell in zip(DECISIVE_FRESH, layer3_transfer, strict=True):
        out += [static_cell("layer3", t), cell]
    out += _transfer(chosen, pairs=pairs)
    out += [
        smat_cell(
            f"{chosen}_restart", {"teacher_explainer.from_run": f"cell:n{N}/{chosen}/seed{s}"}, s
        )
        for s in DECISIVE_SEEDS
    ]
    for s in DECISIVE_SEEDS:
        out += [static_cell(f"layer{ly}", s) for ly in range(LAYERS["deep"]) if ly != 3]
    return out


VARIANTS = (*LAYERS, "deep_seeds", "deep_k")


def get_sweep(variant: str) -> Sweep:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    if variant in LAYERS:
        out = cells(variant)
    else:  # the deep protocol's decisive comparisons, on the deep study's root
        out = _decisive_cells(variant == "deep_k")
        out = [dataclasses.replace(c, overrides={**c.overrides, **DEEP}) for c in out]
    return Sweep(cells=out, description=__doc__.split("\n\n")[0])


def rank_heads(root: str, examples: int = 500) -> list[dict]:
    """Heads ranked by how far fine-tuning moved their explanations: the mean KL between the
    teacher's single-head explanation and the pretrained (untuned) model's, on the first
    `examples` student-training reviews. No student is trained. Writes
    `<root>/head_ranking.json`."""
    import jax
    import ml_collections
    import numpy as np

    from smat import config as config_lib
    from smat import data as data_lib
    from smat import explainers, models
    from smat.simulation import explanation_kl
    from smat.trainers.common import init_params

    teacher_dir = os.path.join(root, "teacher")
    module, params, tokenizer_file, t_config = runs.load_trained_model(teacher_dir)
    c = config_lib.from_file(os.path.join(os.path.dirname(__file__), STATIC))
    splits = data_lib.load(c, tokenizer_file=tokenizer_file).splits
    batch = data_lib.input_arrays(splits["student_train"].arrays, slice(0, examples))
    inputs, mask = data_lib.model_inputs(batch)
    # The pretrained (untuned) encoder of the teacher's size: the teacher's model section.
    t_model = ml_collections.ConfigDict(t_config["model"])
    pretrained = models.build_model(t_model, 2, data_lib.vocab_size(splits.values()))
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ("data",))
    p0 = init_params(pretrained, batch, jax.random.PRNGKey(0), mesh)
    scores = []
    num_layers = len(module.apply({"params": params}, inputs[:1], mask[:1]).attention_logits)
    for layer in range(num_layers):
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
    parser.add_argument("command", choices=["rank-heads", "report"])
    parser.add_argument("--root", required=True)
    parser.add_argument("--out", help="report: where to write it (default: <root>/decisive)")
    args = parser.parse_args()
    if args.command == "report":
        out = args.out or os.path.join(args.root, "decisive")
        result = report(args.root, out)
        print(open(os.path.join(out, "report.md")).read())
        sys.exit(0)
    ranking = rank_heads(args.root)
    for s in ranking:
        print(f"{s['head']}\t{s['kl']:.4f}")
    sys.exit(0)
