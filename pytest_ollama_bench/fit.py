"""Text that fits a terminal: tables that leave columns out, shortened names, wrapped lines.

Pure: no pytest import, no printing. A width of ``None`` means no limit (files, Markdown, the
step summary); the callers pass the width pytest reports for its terminal, or the terminal's
size in the command line. Tables are rendered and measured (no guessing at tabulate's padding):
first the cells that may be shortened are, then columns are left out, lowest priority first.
Light to import (the session header wraps with it): tables load :mod:`.table` when rendered.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from typing import TYPE_CHECKING
from typing import Literal

if TYPE_CHECKING:
    from .table import Style

__all__ = [
    "ELLIPSIS",
    "Cut",
    "FittedTable",
    "TableColumn",
    "fit_table",
    "name_width",
    "output_width",
    "shorten",
    "widest",
    "wrap",
]

#: Marks where a shortened text was cut.
ELLIPSIS = "…"
Cut = Literal["middle", "left", "right"]


def shorten(text: str, limit: int, cut: Cut = "middle") -> str:
    """``text`` in at most ``limit`` characters, ``…`` where it was cut.

    ``middle`` keeps the head and the tail (a model's name and its tag), ``left`` the tail (a
    test's name at the end of its path), ``right`` the head. ``limit < 1`` is taken as 1.
    """
    limit = max(1, limit)
    if len(text) <= limit:
        return text
    if limit == 1:
        return ELLIPSIS
    if cut == "right":
        return text[: limit - 1] + ELLIPSIS
    if cut == "left":
        return ELLIPSIS + text[len(text) - (limit - 1) :]
    head = (limit - 1) // 2
    tail = limit - 1 - head
    return text[:head] + ELLIPSIS + text[len(text) - tail :]


def wrap(text: str, width: int | None, indent: str | None = None) -> list[str]:
    """``text`` as lines of at most ``width`` characters (``None``: the text as one line).

    Continuation lines start with ``indent`` (default: the text's own leading spaces plus
    two); words longer than a line are broken.
    """
    if width is None or len(text) <= width:
        return [text]
    lead = text[: len(text) - len(text.lstrip(" "))]
    lines = textwrap.wrap(
        text,
        width=width,
        subsequent_indent=lead + "  " if indent is None else indent,
        break_long_words=True,
        break_on_hyphens=False,
    )
    return lines or [""]


def output_width(terminal: int, verbosity: int) -> int | None:
    """The width a pytest session's output fits: its terminal's; none under ``-vv`` (pytest
    stops cutting its own lines there too)."""
    return None if verbosity >= 2 else terminal


def name_width(width: int | None) -> int:
    """How short a long model name may get in a table ``width`` characters wide."""
    return 16 if width is None else max(16, width // 4)


def widest(lines: Sequence[str]) -> int:
    """The length of the longest of ``lines`` (0 for none)."""
    return max((len(line) for line in lines), default=0)


@dataclass(frozen=True)
class TableColumn:
    """One column of a table to fit.

    :ivar priority: ``None``: never left out; otherwise larger numbers are left out first
        (ties: the rightmost first).
    :ivar name: how a note about left-out columns names it (``--ollama-columns`` names).
    :ivar cut: how its cells (never the header) may be shortened, or ``None``.
    :ivar min_width: the narrowest its cells are shortened to (suffix not counted).
    :ivar suffixes: text shown after each cell and never shortened (`` [failed]``).
    """

    header: str
    cells: Sequence[str]
    align: str = "right"
    priority: float | None = None
    name: str = ""
    cut: Cut | None = None
    min_width: int = 12
    suffixes: Sequence[str] = ()

    def shown(self) -> list[str]:
        """The cells as shown: each followed by its suffix."""
        suffixes = list(self.suffixes) or [""] * len(self.cells)
        return [cell + suffix for cell, suffix in zip(self.cells, suffixes, strict=True)]


@dataclass(frozen=True)
class FittedTable:
    """A table's lines and the columns left out to make them fit (in table order)."""

    lines: list[str]
    dropped: list[TableColumn]


def _render(columns: Sequence[TableColumn], style: Style, tablefmt: str) -> list[str]:
    from .table import render_table

    headers = [c.header for c in columns]
    rows = [list(row) for row in zip(*(c.shown() for c in columns), strict=True)]
    return render_table(headers, rows, [c.align for c in columns], style, tablefmt)


def _shortened(column: TableColumn, excess: int) -> TableColumn:
    assert column.cut is not None
    shown = column.shown()
    current = max((len(c) for c in shown), default=0)
    target = max(len(column.header), current - excess)
    if target >= current:
        return column
    cells = [  # the cell gives way, its suffix stays
        shorten(cell, max(column.min_width, target - (len(full) - len(cell))), column.cut)
        for cell, full in zip(column.cells, shown, strict=True)
    ]
    if cells == list(column.cells):
        return column
    if len(set(cells)) < len(set(column.cells)):  # shortening would make two rows look alike
        return column
    return replace(column, cells=cells)


def fit_table(
    columns: Sequence[TableColumn],
    width: int | None,
    *,
    style: Style = "text",
    tablefmt: str = "simple",
) -> FittedTable:
    """Render ``columns`` as a table no wider than ``width`` where that can be done.

    First the cells of columns with a ``cut`` are shortened (down to their ``min_width``;
    the largest priority number first, columns that are never left out last), then columns
    with a priority are left out, the largest number first, until every line fits. A table
    that cannot fit even so comes back as narrow as it got.
    """
    kept = list(columns)
    lines = _render(kept, style, tablefmt)
    if width is None or widest(lines) <= width:
        return FittedTable(lines, [])
    shortenable = sorted(
        (i for i, c in enumerate(kept) if c.cut is not None),
        key=lambda i: (kept[i].priority is None, -(kept[i].priority or 0.0), i),
    )
    for i in shortenable:  # the least important first
        excess = widest(lines) - width
        if excess <= 0:
            break
        kept[i] = _shortened(kept[i], excess)
        lines = _render(kept, style, tablefmt)
    positions = list(range(len(kept)))
    dropped: list[tuple[int, TableColumn]] = []
    while widest(lines) > width:
        candidates = [(c.priority, i) for i, c in enumerate(kept) if c.priority is not None]
        if not candidates:
            break
        _, index = max(candidates)
        dropped.append((positions.pop(index), kept.pop(index)))
        lines = _render(kept, style, tablefmt)
    return FittedTable(lines, [column for _, column in sorted(dropped, key=lambda d: d[0])])
