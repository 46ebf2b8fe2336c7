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
