"""Two saved runs side by side (``python -m pytest_ollama_bench compare A B``).

Pure: no pytest import, no printing.
"""

from __future__ import annotations

from .columns import COLUMNS
from .columns import Column
from .fit import TableColumn
from .fit import fit_table
from .fit import name_width
from .fit import wrap
from .metrics import Direction
from .models import Report
from .table import format_change
from .table import run_line

__all__ = ["render_comparison"]


_COMPARED: tuple[str, ...] = ("ttft", "total", "tps")


def _number_cell(column: Column, value: float | None) -> str:
    return "-" if value is None else column.format_number(value)


def _change_cell(a: float | None, b: float | None, direction: Direction) -> str:
    if a is None or b is None:
        return "-"
    return format_change(b, a, direction)


def render_comparison(
    a: Report,
    b: Report,
    *,
    labels: tuple[str, str] = ("A", "B"),
    width: int | None = None,
) -> list[str]:
    """Compare two runs: a row per (test, model) present in either.

    For ttft median, total median and tok/s median the row shows A, B and the change of B
    relative to A in percent, marked ``worse``/``better`` by the metric's direction.

    :param width: the most characters a line may have (``None``: no limit). A wider table
        shortens test ids (from the left) and model names, then leaves out the A columns, then
        the B columns, then the changes (tok/s, then total first); a last line names them.
    """
    la, lb = labels
    index_a = {(c.test, c.model): c for c in a.cases}
    index_b = {(c.test, c.model): c for c in b.cases}
    keys = list(index_a) + [k for k in index_b if k not in index_a]
    lines = [
        *wrap(f"{la}: {run_line(a)}", width),
        *wrap(f"{lb}: {run_line(b)}", width),
    ]
    if not keys:
        lines.append("no cases in either run")
        return lines
    table = [
        TableColumn("test", [k[0] for k in keys], "left", cut="left", min_width=20),
        TableColumn(
            "model", [k[1] for k in keys], "left", cut="middle", min_width=name_width(width)
        ),
    ]
    for rank, name in enumerate(_COMPARED):
        column = COLUMNS[name]
        short, _, unit = column.header.partition(" (")
        unit = f" ({unit}" if unit else ""
        values = [
            (
                None if (ca := index_a.get(key)) is None else column.value(ca),
                None if (cb := index_b.get(key)) is None else column.value(cb),
            )
            for key in keys
        ]
        for label, side, order in ((la, 0, 20), (lb, 1, 10)):
            cells = [_number_cell(column, pair[side]) for pair in values]
            table.append(TableColumn(f"{short} {label}{unit}", cells, priority=order + rank))
        changes = [_change_cell(va, vb, column.direction) for va, vb in values]
        table.append(TableColumn(f"{short} Δ", changes, priority=rank))
    if any((k in index_a) != (k in index_b) for k in keys):
        notes = [
            f"only in {la}" if k not in index_b else (f"only in {lb}" if k not in index_a else "")
            for k in keys
        ]
        table.append(TableColumn("note", notes, "left"))
    fitted = fit_table(table, width)
    lines.append("")
    lines.extend(fitted.lines)
    if fitted.dropped and width is not None:
        names = ", ".join(c.header for c in fitted.dropped)
        lines.extend(
            wrap(
                f"left out to fit {width} characters: {names}; see them with --width 0 "
                "(no limit) or in a wider terminal",
                width,
            )
        )
    return lines
