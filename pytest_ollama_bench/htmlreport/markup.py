"""Small HTML helpers of the report: escaping, numbers as the tables print them, tables, ids.

Every text that comes from a record (answers, prompts, errors, node ids, model names) goes
through :func:`esc`; numbers are formatted with the registry's precision.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence

from ..metrics import Metric
from ..models import CaseRecord
from ..models import Measurement

__all__ = [
    "anchor",
    "badge",
    "esc",
    "fmt",
    "measured_rounds",
    "number_cell",
    "table",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def esc(text: object) -> str:
    """``text`` as HTML text or attribute value (``&``, ``<``, ``>`` and quotes escaped)."""
    return html.escape(str(text), quote=True)


def fmt(value: float | None, m: Metric) -> str:
    """``value`` with the registry's precision for ``m``; ``-`` when absent."""
    if value is None:
        return "-"
    if m.direction == "none" and float(value).is_integer():
        return str(int(value))
    return f"{value:.{max(1, m.decimals)}f}"


def anchor(prefix: str, text: str) -> str:
    """A stable, unique-enough HTML id for ``text`` (node ids have brackets, colons, slashes)."""
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{prefix}-{_UNSAFE.sub('-', text)[-48:].strip('-')}-{digest}"


def badge(outcome: str) -> str:
    """A coloured pill for a pytest outcome (``passed``, ``failed``, ``error``, ``skipped``)."""
    return f'<span class="badge {esc(outcome)}">{esc(outcome)}</span>'


def number_cell(value: float | None, m: Metric, stat: str, extra: str = "") -> str:
    """A right-aligned cell; ``data-metric``/``data-stat``/``data-value`` hold the exact value."""
    exact = "" if value is None else f' data-value="{value!r}"'
    return (
        f'<td class="num" data-metric="{esc(m.name)}" data-stat="{esc(stat)}"{exact}>'
        f"{fmt(value, m)}{extra}</td>"
    )


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    cls: str,
    row_attrs: Sequence[str] = (),
) -> str:
    """A table; ``headers`` are text (escaped here), the cells of ``rows`` HTML (a cell that is
    not already a ``<td>`` is wrapped in one); ``row_attrs[i]`` goes into row i's ``<tr>``."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    attrs = list(row_attrs) + [""] * (len(rows) - len(row_attrs))
    body = "".join(
        f"<tr{' ' + extra if extra else ''}>"
        + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row)
        + "</tr>"
        for row, extra in zip(rows, attrs, strict=True)
    )
    return f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def measured_rounds(case: CaseRecord, *, warmup: bool = False) -> list[Measurement]:
    """The rounds of every call of ``case`` in the order run (warmup ones only if asked)."""
    return [r for call in case.calls for r in call.rounds if warmup or not r.warmup]
