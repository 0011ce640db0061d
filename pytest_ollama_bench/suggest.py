"""Suggestions for mistyped names: the one "did you mean ...?" of every message about a name.

A name that is none of the valid ones gets the closest of them by :mod:`difflib`'s similarity
ratio (at least :data:`CUTOFF`, as :func:`difflib.get_close_matches` measures it; of equally
close ones, one with the same letters in another order, then the first given), or the
suggestion an alias stands for exactly (a metric's column key for the metric: ``ttft`` for
``ttft_ms``). Messages put each unknown name and its suggestion first and any list of the
valid names after them, so that a line cut to a terminal's width (pytest's short test
summary) keeps what matters. Standard library only.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence

__all__ = ["CUTOFF", "Choices", "closest", "did_you_mean", "quoted", "unknown_names"]

#: The least similarity ratio (0 to 1) a valid name needs to be suggested.
CUTOFF = 0.6
#: The valid names: each suggested as itself, quoted; or a mapping of each name that may be
#: matched to the text suggested for it (an alias to what it stands for, a name to a form).
Choices = Iterable[str] | Mapping[str, str]


def quoted(names: Iterable[str]) -> dict[str, str]:
    """``names`` as choices that suggest themselves, quoted (``'tools'``)."""
    return {name: repr(name) for name in names}


def closest(name: str, choices: Choices) -> str | None:
    """What ``name`` was probably meant to be, as the text to suggest; None when nothing is
    close enough.

    :param choices: the valid names (suggested quoted), or a mapping of the names that may be
        matched to the text suggested for each (an exact match wins, then the most similar).
    """
    table = dict(choices) if isinstance(choices, Mapping) else quoted(choices)
    if name in table:
        return table[name]
    best: tuple[float, bool] = (CUTOFF, False)
    found: str | None = None
    for candidate in table:  # as get_close_matches scores them
        ratio = difflib.SequenceMatcher(None, candidate, name).ratio()
        # a tie goes to the same letters in another order (p59 -> p95), then the first given
        score = (ratio, sorted(candidate) == sorted(name))
        if ratio >= CUTOFF and (found is None or score > best):
            best, found = score, candidate
    return None if found is None else table[found]


def did_you_mean(name: str, choices: Choices) -> str:
    """`` (did you mean 'tools'?)`` after a mistyped ``name``, or ``""``."""
    found = closest(name, choices)
    return "" if found is None else f" (did you mean {found}?)"


def unknown_names(names: Sequence[str], choices: Choices) -> str:
    """``'tool' (did you mean 'tools'?), 'x'``: each name quoted, with its suggestion."""
    return ", ".join(f"{name!r}{did_you_mean(name, choices)}" for name in names)
