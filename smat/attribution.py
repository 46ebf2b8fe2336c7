"""Attribution results: what an explainer says about one text, at token and word level.

`TrainedExplainer.explain(texts)` returns an `Attribution` per text (an `Attributions` list for
several): the tokens and words, their scores, the model's prediction and probabilities, the
class explained and, for integrated gradients, the completeness gap. Shown in a terminal
(`.show()`), in a notebook (`_repr_html_`), as a page (`.to_html(path)`); saved as JSON.

  a = explainer.explain("A gripping, beautifully acted film.", aggregate="word")
  a.show(); a.top(3); a.to_html("a.html"); a.save("a.json"); Attribution.load("a.json")
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import numpy as np

from smat.heatmaps import html_heatmap, html_page, terminal_heatmap

FORMAT = 1
AGGREGATES = ("token", "word")


@dataclasses.dataclass
class Attribution:
    """One text's explanation.

    Attributes:
      tokens: per real token, its text as written in the input (special tokens as themselves).
      token_scores: [tokens] scores (a distribution when `normalized`; raw, possibly signed,
        otherwise).
      words: the text's words (runs of non-space characters) that kept a token.
      word_scores: [words] the token scores pooled per word by `word_reduce`.
      token_words: per token its word's index, None for special tokens.
      explainer: the explainer's name.
      text: the text (or the two texts of a pair) explained; None for token ids given directly.
      prediction: the class the model predicts (its output value for regression).
      probabilities: [classes] the model's softmax probabilities; None for regression.
      target: the class explained (gradient explainers); None when the explanation does not
        depend on a class (attention) or the model is a regressor.
      normalized: whether the scores were normalised to a distribution.
      aggregate: the level shown and returned by `.scores`: "token" or "word".
      word_reduce: how tokens were pooled into words: "sum", "mean" or "max".
      completeness_gap: integrated gradients: f(input) - f(baseline) - Σ raw attributions.
    """

    tokens: list[str]
    token_scores: np.ndarray
    words: list[str]
    word_scores: np.ndarray
    token_words: list[int | None]
    explainer: str
    text: str | tuple[str, str] | None = None
    prediction: int | float | None = None
    probabilities: np.ndarray | None = None
    target: int | None = None
    normalized: bool = True
    aggregate: str = "token"
    word_reduce: str = "sum"
    completeness_gap: float | None = None

    def __post_init__(self):
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate={self.aggregate!r}; choose token or word")
        self.token_scores = np.asarray(self.token_scores, np.float64)
        self.word_scores = np.asarray(self.word_scores, np.float64)
        if self.probabilities is not None:
            self.probabilities = np.asarray(self.probabilities, np.float64)

    @property
    def units(self) -> list[str]:
        """The tokens or the words, as `aggregate` says."""
        return self.words if self.aggregate == "word" else self.tokens

    @property
    def scores(self) -> np.ndarray:
        """The token or word scores, as `aggregate` says."""
        return self.word_scores if self.aggregate == "word" else self.token_scores

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The k highest-scoring tokens or words, with their scores."""
        order = np.argsort(-self.scores, kind="stable")[:k]
        return [(self.units[i], float(self.scores[i])) for i in order]

    def _new_word(self) -> list[bool] | None:
        """Display: a token starts a new word unless it continues the previous token's word."""
        if self.aggregate == "word":
            return None if not self.words else [True] * len(self.words)
        flags, previous = [], object()
        for w in self.token_words:
            flags.append(w is None or w != previous)
            previous = w
        return flags

    def summary(self) -> str:
        """One line: the explainer, the prediction and the class explained."""
        return ", ".join(filter(None, [self.explainer, self.details()]))

    def details(self) -> str:
        """The summary without the explainer's name."""
        parts = []
        if self.probabilities is not None:
            p = float(self.probabilities[int(self.prediction)])
            parts.append(f"predicts {self.prediction} (p={p:.3f})")
        elif self.prediction is not None:
            parts.append(f"predicts {self.prediction:.4g}")
        if self.target is not None:
            parts.append(f"explains class {self.target}")
        if self.completeness_gap is not None:
            parts.append(f"completeness gap {self.completeness_gap:+.2e}")
        if not self.normalized:
            parts.append("raw scores")
        return ", ".join(parts)

    def show(self, file: TextIO | None = None) -> None:
        """Prints the summary line and a terminal heatmap (ANSI colours)."""
        print(self.summary(), file=file or sys.stdout)
        flags = self._new_word()
        print(terminal_heatmap(self.units, self.scores, flags), file=file or sys.stdout)

    def heatmap_html(self) -> str:
        """The heatmap as an HTML fragment (text escaped)."""
        return html_heatmap(self.units, self.scores, self._new_word())

    def _repr_html_(self) -> str:
        import html

        return f"<div><p><b>{html.escape(self.summary())}</b></p><p>{self.heatmap_html()}</p></div>"

    def to_html(self, path: str) -> str:
        """Writes a self-contained page; returns `path`."""
        return Attributions([self]).to_html(path)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (arrays as lists)."""
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, np.ndarray):
                d[k] = v.tolist()
        if isinstance(self.text, tuple):
            d["text"] = list(self.text)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Attribution:
        """The inverse of `to_dict`."""
        d = dict(d)
        if isinstance(d.get("text"), list):
            d["text"] = tuple(d["text"])
        return cls(**d)

    def save(self, path: str) -> str:
        """Writes JSON that `Attribution.load` reads; returns `path`."""
        return Attributions([self]).save(path)

    @classmethod
    def load(cls, path: str) -> Attribution:
        """Reads one attribution written by `save`."""
        (one,) = Attributions.load(path)
        return one


class Attributions(list):
    """A list of `Attribution` objects (one per text) that shows, renders and saves them."""

    def show(self, file: TextIO | None = None) -> None:
        """Prints each attribution (see `Attribution.show`)."""
        for a in self:
            a.show(file)

    def _repr_html_(self) -> str:
        return "".join(a._repr_html_() for a in self)

    def to_html(self, path: str, subtitle: str = "") -> str:
        """Writes a page, one block per text; returns `path`."""
        if not self:
            raise ValueError("no attributions to write")
        return write_page(path, {self[0].explainer: list(self)}, subtitle=subtitle)

    def save(self, path: str) -> str:
        """Writes JSON that `Attributions.load` reads; returns `path`."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump({"format": FORMAT, "attributions": [a.to_dict() for a in self]}, f)
        return path

    @classmethod
    def load(cls, path: str) -> Attributions:
        """Reads attributions written by `save`."""
        with open(path) as f:
            data = json.load(f)
        if data.get("format") != FORMAT:
            found = data.get("format")
            raise ValueError(f"{path!r}: attribution format {found}, expected {FORMAT}")
        return cls(Attribution.from_dict(d) for d in data["attributions"])


def _header(a: Attribution, i: int) -> str:
    text = " / ".join(a.text) if isinstance(a.text, tuple) else a.text
    shown = text if text is None or len(text) <= 100 else text[:97] + "..."
    return f"text {i + 1}: {shown}" if shown is not None else f"example {i + 1}"


def comparison_page(
    named: dict[str, Iterable[Attribution]], headers: list[str] | None = None, subtitle: str = ""
) -> str:
    """An HTML page comparing explainers: per text a header, then one heatmap row per named
    explainer (each name maps to the attributions of the same texts, in order)."""
    columns = {name: list(attrs) for name, attrs in named.items()}
    lengths = {len(a) for a in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"explainers explain different numbers of texts: {sorted(lengths)}")
    n = lengths.pop()
    import html

    first = next(iter(columns.values()))
    examples = []
    for i in range(n):
        header = headers[i] if headers else _header(first[i], i)
        rows = {
            name: f'<div class="meta">{html.escape(a[i].details())}</div>{a[i].heatmap_html()}'
            for name, a in columns.items()
        }
        examples.append((header, rows))
    return html_page(examples, subtitle=subtitle)


def write_page(
    path: str,
    named: dict[str, Iterable[Attribution]],
    headers: list[str] | None = None,
    subtitle: str = "",
) -> str:
    """Writes `comparison_page(named, headers, subtitle)` to `path`; returns `path`."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(comparison_page(named, headers, subtitle))
    return path
