"""Rankings with ties: which rank lists an annotator may submit.

Annotators rank k explanations from 1 (best) with ties in *competition* ranking ("1224"): tied
items share a rank and the next rank skips as many places as there were ties, so a rank always
equals 1 + the number of items strictly better. 1,1,3 is valid; 1,1,2 is not (it would mean the
third item is second although two items are better).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np


class RankingError(ValueError):
    """An invalid ranking; the message says what is wrong and what would be valid."""


def competition_ranks(ranks: Sequence[int]) -> list[int]:
    """The competition ranking with the same order and ties as `ranks` (any comparable values,
    smaller = better)."""
    return [1 + sum(other < r for other in ranks) for r in ranks]


def small_int(text: str) -> int | None:
    """The int an ASCII decimal of at most 9 digits spells (optionally negative), else None:
    not `str.isdigit`, which takes '²' (then `int` raises), nor `int` on thousands of digits."""
    return int(text) if re.fullmatch(r"-?[0-9]{1,9}", text) else None


def validate(ranks: Sequence[object], k: int) -> list[int]:
    """Checks a submitted ranking of `k` items and returns it as ints.

    Raises:
      RankingError: a rank is missing or not an integer in 1..k, or the ranks are not a
        competition ranking (the message proposes the valid one with the same order).
    """
    if len(ranks) != k:
        raise RankingError(f"give a rank to each of the {k} explanations ({len(ranks)} given)")
    out = []
    for i, r in enumerate(ranks):
        text = str(r).strip()
        value = small_int(text)
        if value is None:
            shown = text if len(text) <= 12 else text[:12] + "..."
            raise RankingError(f"explanation {i + 1}: rank {shown or '(empty)'!r} is not a number")
        if not 1 <= value <= k:
            raise RankingError(f"explanation {i + 1}: rank {value} is not between 1 and {k}")
        out.append(value)
    expected = competition_ranks(out)
    if out != expected:
        ties = ", ".join(f"{n} at rank {r}" for r, n in sorted(Counter(out).items()) if n > 1)
        raise RankingError(
            f"ranks {','.join(map(str, out))} skip or reuse places"
            + (f" ({ties})" if ties else "")
            + ": tied explanations share a rank and the next rank counts them, e.g. 1,1,3; "
            f"the same order is {','.join(map(str, expected))}"
        )
    return out


def simulated_rankings(
    skills: dict[str, float],
    n: int,
    noise: float = 1.0,
    tie_margin: float = 0.3,
    seed: int = 0,
) -> list[dict[str, int]]:
    """`n` rankings (explainer -> competition rank, 1 = best) by simulated annotators who judge
    explainer e as skills[e] + N(0, noise²) and tie an explainer with the one above it when
    their judgements differ by less than `tie_margin`. The true order is that of `skills`."""
    rng = np.random.default_rng(seed)
    names = list(skills)
    out = []
    for _ in range(n):
        judged = {e: skills[e] + noise * rng.standard_normal() for e in names}
        order = sorted(names, key=lambda e: -judged[e])
        level, first = {}, 0
        for i, e in enumerate(order):
            if i and judged[order[i - 1]] - judged[e] >= tie_margin:
                first = i
            level[e] = first
        out.append(dict(zip(names, competition_ranks([level[e] for e in names]), strict=True)))
    return out
