"""Words of a text from its tokens: which word each token belongs to, and per-word scores.

A word is a run of non-space characters of the original text ("film!" is one word), found
from the tokenizer's own character offsets, so WordPiece ("##ing"), byte-level BPE ("Ġfilm")
and SentencePiece ("▁film") pieces are grouped the same way and shown as the text's own
characters (no markers, original case). Special tokens ([CLS], <s>, ...) belong to no word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import tokenizers

REDUCTIONS = ("sum", "mean", "max")
SPACE_MARKERS = "\u0120\u2581"  # "Ġ" (byte-level BPE) and "▁" (SentencePiece)


def token_words(
    encoding: tokenizers.Encoding, texts: Sequence[str]
) -> tuple[list[int | None], list[str], list[str]]:
    """Groups an encoding's tokens into the words of the text(s) it encodes.

    Args:
      encoding: one text's (or one sentence pair's) encoding, padding included.
      texts: the text, or the two texts of a pair, that were encoded.
    Returns:
      (word index per token, None for special tokens and padding; the words, in order, only
      those that kept at least one token after truncation; per token its display text, the
      text's own characters, or the token itself for special tokens).
    """
    sequence_ids = encoding.sequence_ids
    spans = []  # (sequence, start, end) of each whitespace-delimited chunk, in text order
    for seq, text in enumerate(texts):
        spans += [(seq, m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    word_of_span: dict[int, int] = {}
    ids: list[int | None] = []
    shown: list[str] = []
    for token, (start, end), seq, special, real in zip(
        encoding.tokens,
        encoding.offsets,
        sequence_ids,
        encoding.special_tokens_mask,
        encoding.attention_mask,
        strict=True,
    ):
        text = texts[seq] if seq is not None and not special and real else ""
        # A piece that stands for spaces only (byte-level BPE's lone "Ġ", SentencePiece's lone
        # "▁", whose offsets may cover the next character) belongs to the word after it.
        visible = None if token.strip(SPACE_MARKERS) == "" else _first_visible(text, start, end)
        anchor = visible if visible is not None else _first_visible(text, start, len(text))
        if anchor is None or start == end:
            ids.append(None)
            shown.append(token)
            continue
        span = next(i for i, (s, a, b) in enumerate(spans) if s == seq and a <= anchor < b)
        ids.append(word_of_span.setdefault(span, len(word_of_span)))
        shown.append(text[visible:end] if visible is not None else "")
    words = [texts[spans[i][0]][spans[i][1] : spans[i][2]] for i in word_of_span]
    return ids, words, shown


def _first_visible(text: str, start: int, end: int) -> int | None:
    """The index of the first non-space character of text[start:end], None if there is none
    (byte-level BPE offsets may include the space before a word)."""
    for i in range(start, min(end, len(text))):
        if not text[i].isspace():
            return i
    return None


def word_scores(
    token_scores: np.ndarray,
    word_ids: Sequence[int | None],
    num_words: int,
    reduce: str = "sum",
) -> tuple[np.ndarray, np.ndarray]:
    """Pools token scores into words: [tokens] -> ([num_words], seen mask [num_words]).

    `reduce`: "sum" (a word's share of a distribution; the default), "mean" or "max" (of the
    word's pieces). Tokens with word id None (special tokens, padding) or beyond `num_words`
    are left out; a word none of whose tokens is present scores 0 and is not seen.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce={reduce!r}; choose one of {', '.join(REDUCTIONS)}")
    pieces: list[list[float]] = [[] for _ in range(num_words)]
    for score, w in zip(token_scores, word_ids, strict=False):
        if w is not None and w < num_words:
            pieces[w].append(float(score))
    pool = {"sum": np.sum, "mean": np.mean, "max": np.max}[reduce]
    scores = np.array([pool(p) if p else 0.0 for p in pieces], np.float64)
    return scores, np.array([bool(p) for p in pieces])
