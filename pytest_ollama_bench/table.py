"""Text helpers of the summary tables: ranked cells, changes in percent, tabulate, run lines.

Pure: no pytest import, no printing. Built with :mod:`tabulate` in the manner of
pytest-benchmark's table: the best value of a column marked and every value followed by its
ratio to that best, ``912.3 (1.42)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Literal

from tabulate import tabulate

from .metrics import Direction
from .models import CaseRecord
from .models import Report

__all__ = [
    "BEST_MARK",
    "Style",
    "case_label",
    "first_line",
    "format_change",
    "group_by_test",
    "md_escape",
    "percent_change",
    "ranked_cells",
    "render_table",
    "run_line",
]

Style = Literal["text", "markdown"]

#: Appended to the best value of a ranked column in text tables (Markdown uses bold instead).
BEST_MARK = "*"
_ERROR_WIDTH = 200


def _ratio_text(value: float, best: float) -> str:
    if value == best:
        return "(1.00)"
    if best == 0:
        return "(inf)"
    return f"({value / best:.2f})"


def ranked_cells(
    values: Sequence[float | None],
    texts: Sequence[str],
    direction: Direction,
    style: Style,
) -> list[str]:
    """Cells with the best value marked and each value's ratio to the best (``value / best``).

    Fewer than two values, or a column without direction, are shown as they are. Text cells
    are padded inside so values and ratios line up in a right-aligned column.
    """
    present = [v for v in values if v is not None]
    if direction == "none" or len(present) < 2:
        return list(texts)
    best = min(present) if direction == "lower" else max(present)
    ratios = [None if v is None else _ratio_text(v, best) for v in values]
    value_width = max(len(t) for t, v in zip(texts, values, strict=True) if v is not None)
    ratio_width = max(len(r) for r in ratios if r is not None)
    cells: list[str] = []
    for value, text, ratio in zip(values, texts, ratios, strict=True):
        if value is None or ratio is None:
            cells.append(text)
        elif style == "markdown":
            cells.append(f"**{text}** {ratio}" if value == best else f"{text} {ratio}")
        else:
            mark = BEST_MARK if value == best else " "
            cells.append(f"{text:>{value_width}}{mark} {ratio:>{ratio_width}}")
    return cells


def percent_change(current: float, base: float) -> float | None:
    """``current`` relative to ``base`` in percent (``None`` when ``base`` is 0)."""
    if base == 0:
        return None if current == 0 else math.copysign(math.inf, current)
    return (current - base) / abs(base) * 100.0


def format_change(current: float, base: float, direction: Direction) -> str:
    """``+12.3% worse`` / ``-4.0% better`` (by ``direction``), or the bare change without one.

    A change that rounds to zero at one decimal is ``+0.0%``, never ``-0.0% better``.
    """
    pct = percent_change(current, base)
    if pct is None:
        return "+0.0%"
    text = f"{pct:+.1f}%"
    if text in ("+0.0%", "-0.0%"):  # a change too small to show has no sign and no verdict
        return "+0.0%"
    if direction == "none":
        return text
    worse = pct > 0 if direction == "lower" else pct < 0
    return f"{text} {'worse' if worse else 'better'}"


def first_line(text: str | None, width: int = _ERROR_WIDTH) -> str:
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= width else line[: width - 1] + "…"
    return ""


def md_escape(text: str) -> str:
    out = []
    for ch in text:
        if ch in "\\`*_[]<>|#":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    colalign: Sequence[str],
    style: Style,
    tablefmt: str = "simple",
) -> list[str]:
    if style == "markdown":
        rows = [[c.replace("|", "\\|") for c in row] for row in rows]
        tablefmt = "github"
    text = tabulate(
        [list(r) for r in rows],
        headers=list(headers),
        tablefmt=tablefmt,
        disable_numparse=True,
        colalign=list(colalign),
    )
    return text.splitlines()


def group_by_test(cases: Iterable[CaseRecord]) -> dict[str, list[CaseRecord]]:
    """The cases by test function (first-seen order); with several servers by test and server
    (``test_x.py::test_a on http://127.0.0.1:11434``), one server's tests after the other's."""
    groups: dict[str, list[CaseRecord]] = {}
    hosts: dict[str, int] = {}
    for case in cases:
        key = case.test if case.host is None else f"{case.test} on {case.host}"
        groups.setdefault(key, []).append(case)
        hosts.setdefault(case.host or "", len(hosts))
    if len(hosts) < 2:
        return groups
    order = sorted(groups.items(), key=lambda kv: hosts[kv[1][0].host or ""])
    return dict(order)


def case_label(case: CaseRecord) -> str:
    """How a leaderboard names a case's model: ``llama3.2``, or ``llama3.2 @ 127.0.0.1:11434``
    when the run had several servers."""
    if case.host is None:
        return case.model
    from .hosts import host_label

    return f"{case.model} @ {host_label(case.host)}"


def run_line(report: Report) -> str:
    parts = [
        f"run of {report.created_at.isoformat(timespec='seconds')}",
        f"hosts {', '.join(report.hosts)}" if report.hosts else f"host {report.host}",
    ]
    if report.ollama_version:
        parts.append(f"ollama {report.ollama_version}")
    parts.append(f"plugin {report.plugin_version}")
    parts.append(f"{len(report.cases)} case{'s' if len(report.cases) != 1 else ''}")
    if report.interrupted:
        parts.append("interrupted")
    return ", ".join(parts)
