"""Two saved runs side by side (``python -m pytest_ollama_bench compare A B``).

Pure: no pytest import, no printing.
"""

from __future__ import annotations

from .columns import COLUMNS
from .metrics import Direction
from .models import Report
from .table import format_change
from .table import render_table
from .table import run_line

__all__ = ["render_comparison"]


_COMPARED: tuple[str, ...] = ("ttft", "total", "tps")


def _change_cell(a: float | None, b: float | None, direction: Direction) -> str:
    if a is None or b is None:
        return "-"
    return format_change(b, a, direction)


def render_comparison(
    a: Report,
    b: Report,
    *,
    labels: tuple[str, str] = ("A", "B"),
) -> list[str]:
    """Compare two runs: a row per (test, model) present in either.

    For ttft median, total median and tok/s median the row shows A, B and the change of B
    relative to A in percent, marked ``worse``/``better`` by the metric's direction.
    """
    la, lb = labels
    index_a = {(c.test, c.model): c for c in a.cases}
    index_b = {(c.test, c.model): c for c in b.cases}
    keys = list(index_a) + [k for k in index_b if k not in index_a]
    lines = [f"{la}: {run_line(a)}", f"{lb}: {run_line(b)}"]
    if not keys:
        lines.append("no cases in either run")
        return lines
    columns = [COLUMNS[n] for n in _COMPARED]
    headers = ["test", "model"]
    align = ["left", "left"]
    for column in columns:
        short, _, unit = column.header.partition(" (")
        unit = f" ({unit}" if unit else ""
        headers += [f"{short} {la}{unit}", f"{short} {lb}{unit}", f"{short} Δ"]
        align += ["right", "right", "right"]
    one_sided = any((k in index_a) != (k in index_b) for k in keys)
    if one_sided:
        headers.append("note")
        align.append("left")
    body: list[list[str]] = []
    for key in keys:
        ca = index_a.get(key)
        cb = index_b.get(key)
        row = [key[0], key[1]]
        for column in columns:
            va = None if ca is None else column.value(ca)
            vb = None if cb is None else column.value(cb)
            row.append("-" if va is None else column.format_number(va))
            row.append("-" if vb is None else column.format_number(vb))
            row.append(_change_cell(va, vb, column.direction))
        if one_sided:
            row.append(f"only in {la}" if cb is None else (f"only in {lb}" if ca is None else ""))
        body.append(row)
    lines.append("")
    lines.extend(render_table(headers, body, align, "text"))
    return lines
