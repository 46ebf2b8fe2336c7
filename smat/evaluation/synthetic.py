"""A generated text-classification task whose rationale is known: planted cue tokens.

Every example is [CLS] + filler tokens + [SEP] with 1-3 cue tokens of one polarity planted at
random positions; the label is that polarity. A model that solves the task must find the cues,
so an explainer can be scored against the planted positions (`smat.evaluation.plausibility`)
without human annotation. Token ids: 0 [PAD], 1 [CLS], 2 [SEP], then `num_cues` positive cues,
`num_cues` negative cues, then `num_distractors` positive and as many negative distractors,
then fillers.

With `num_distractors > 0`, every example also carries 1-3 *distractor* tokens of one polarity,
which agrees with the label only with probability `distractor_agreement`: a spurious feature.
A model trained to fit the labels must rely on the cues, but a student that sees few examples
cannot tell the cues from the distractors without help, and an explanation that points at the
distractors teaches the wrong feature.
"""

from __future__ import annotations

import numpy as np

PAD, CLS, SEP = 0, 1, 2


def vocab_size(num_cues: int = 8, num_fillers: int = 200, num_distractors: int = 0) -> int:
    return 3 + 2 * num_cues + 2 * num_distractors + num_fillers


def make_task(
    n: int,
    length: int = 32,
    seed: int = 0,
    num_cues: int = 8,
    num_fillers: int = 200,
    num_distractors: int = 0,
    distractor_agreement: float = 0.75,
) -> dict[str, np.ndarray]:
    """n examples of `length` tokens: input_ids, attention_mask, label, rationale ([n, length]
    bool: the planted cues), distractor ([n, length] bool: the planted distractors),
    distractor_label (their polarity; the label when there are none) and word_ids-compatible
    positions (`word_ids`: token index of each real non-special token, -1
    elsewhere)."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((n, length), np.int32)
    rationale = np.zeros((n, length), bool)
    distractor = np.zeros((n, length), bool)
    labels = rng.integers(0, 2, size=n).astype(np.int32)
    first_cue = 3 + np.where(labels == 1, 0, num_cues)
    first_filler = 3 + 2 * num_cues + 2 * num_distractors
    lengths = rng.integers(length // 2, length + 1, size=n)
    if num_distractors:  # drawn only when asked for, so the task without them is unchanged
        # The distractors' polarity agrees with the label with probability distractor_agreement.
        agrees = rng.random(n) < distractor_agreement
        spurious = np.where(agrees, labels, 1 - labels)
        first_distractor = 3 + 2 * num_cues + np.where(spurious == 1, 0, num_distractors)
    for i in range(n):
        words = lengths[i] - 2
        body = rng.integers(first_filler, first_filler + num_fillers, size=words)
        cues = rng.choice(words, size=rng.integers(1, 4), replace=False)
        body[cues] = first_cue[i] + rng.integers(0, num_cues, size=len(cues))
        rationale[i, 1 + cues] = True
        if num_distractors:
            rest = np.setdiff1d(np.arange(words), cues)
            spots = rng.choice(rest, size=rng.integers(1, 4), replace=False)
            body[spots] = first_distractor[i] + rng.integers(0, num_distractors, size=len(spots))
            distractor[i, 1 + spots] = True
        ids[i, : lengths[i]] = np.concatenate([[CLS], body, [SEP]])
    mask = (ids != PAD).astype(np.int32)
    positions = np.where(mask.astype(bool), np.arange(length)[None, :], -1)
    positions[:, 0] = -1
    positions[np.arange(n), lengths - 1] = -1
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "label": labels,
        "rationale": rationale,
        "distractor": distractor,
        # The distractors' polarity (the label a model that reads only them would predict).
        "distractor_label": spurious.astype(np.int32) if num_distractors else labels.copy(),
        "word_ids": positions,
    }


def plausibility_inputs(task: dict[str, np.ndarray]):
    """(word_ids, rationales) for `plausibility.evaluate`: every token is its own word."""
    word_ids = [[None if w < 0 else int(w) for w in row] for row in task["word_ids"]]
    return word_ids, list(task["rationale"])


# ----- a generated quality-estimation task in MLQE-PE files ----------------------------------
_SOURCE_WORDS = (
    "the cat dog house tree river city road car book table window garden school market "
    "friend mother father child water light night morning summer winter"
).split()
_TARGET_WORDS = (
    "die katze hund haus baum fluss stadt strasse auto buch tisch fenster garten schule markt "
    "freund mutter vater kind wasser licht nacht morgen sommer winter"
).split()
_WRONG_WORDS = "banane rakete pinguin trompete vulkan kaktus".split()


def write_qe_task(folder: str, n: int = 400, seed: int = 0, stem: str = "synthetic") -> str:
    """Writes a generated sentence-pair QE task in MLQE-PE formats; returns the .tsv path.

    Each "translation" maps every source word through a fixed dictionary, except 0-4 words
    replaced by words no source word translates to: those are tagged BAD (`<stem>.tags`, with
    `.src` and `.mt`), and the score `z_mean` falls with their share (plus noise), so a model
    that solves the task must find the wrong words.
    """
    import os

    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    rows, src_lines, mt_lines, tag_lines = [], [], [], []
    for i in range(n):
        length = int(rng.integers(5, 13))
        idx = rng.integers(0, len(_SOURCE_WORDS), size=length)
        wrong = rng.choice(length, size=int(rng.integers(0, 5)), replace=False)
        target = [_TARGET_WORDS[j] for j in idx]
        for w in wrong:
            target[w] = _WRONG_WORDS[int(rng.integers(0, len(_WRONG_WORDS)))]
        bad = np.zeros(length, bool)
        bad[wrong] = True
        score = -3.0 * bad.mean() + 0.1 * rng.normal() + 0.5
        source = " ".join(_SOURCE_WORDS[j] for j in idx)
        rows.append(f"{i}\t{source}\t{' '.join(target)}\t{score:.4f}")
        src_lines.append(source)
        mt_lines.append(" ".join(target))
        # OK/BAD for every gap and word, as MLQE-PE's MT tags (gaps all OK here).
        tag_lines.append(" ".join(["OK"] + [t for b in bad for t in ("BAD" if b else "OK", "OK")]))
    tsv = os.path.join(folder, f"{stem}.tsv")
    with open(tsv, "w", encoding="utf-8") as f:
        f.write("index\toriginal\ttranslation\tz_mean\n" + "\n".join(rows) + "\n")
    words = os.path.join(folder, "word-level")
    os.makedirs(words, exist_ok=True)
    for ext, lines in ((".src", src_lines), (".mt", mt_lines), (".tags", tag_lines)):
        with open(os.path.join(words, stem + ext), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return tsv
