"""Exports of a run for the tools people already use: CSV, and github-action-benchmark's JSON.

Pure: no pytest import, no file writes (the callers write the text); light to import (the
option parser reads :func:`parse_export`). Every column and entry comes from the metric
registry, so a new metric is exported with no change here.

- ``csv``: one row per round of every call (warmup rounds included and marked): the run's
  date, the test, its model and outcome, the call, the round, every per-round metric of the
  registry (``itl_ms_median`` and ``itl_ms_max`` for the round's inter-token gaps), and the
  prompt, options and answer text, to score answers later.
- ``github-smaller`` / ``github-bigger``: the entries of github-action-benchmark's
  ``customSmallerIsBetter`` / ``customBiggerIsBetter`` tools, one file each, as that action
  reads them (``src/extract.ts``): a JSON array of ``{name, unit, value, range, extra}``
  objects, ``name``, ``unit``, ``range`` and ``extra`` strings and ``value`` a number. One entry
  per case (test x model) and metric of that direction: its median over the measured rounds,
  the standard deviation as ``range``, the other statistics in ``extra``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal

from .metrics import METRICS
from .metrics import Metric

if TYPE_CHECKING:  # the option parser reads this module at start-up: no pydantic then
    from .models import CaseRecord
    from .models import Measurement
    from .models import Report

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "export_text",
    "github_entries",
    "parse_export",
]

#: ``--ollama-export`` formats, and the github-action-benchmark tool each one feeds.
FORMATS: dict[str, str] = {
    "csv": "one row per round (spreadsheets, pandas)",
    "github-smaller": "github-action-benchmark, tool: customSmallerIsBetter (times)",
    "github-bigger": "github-action-benchmark, tool: customBiggerIsBetter (rates)",
}

_ROUND_METRICS: tuple[Metric, ...] = tuple(m for m in METRICS if not m.pooled)
_POOLED_METRICS: tuple[Metric, ...] = tuple(m for m in METRICS if m.pooled)

#: The CSV's columns, in order.
CSV_COLUMNS: tuple[str, ...] = (
    "created_at",
    "test",
    "nodeid",
    "model",
    "outcome",
    "call",
    "endpoint",
    "api",
    "round",
    "warmup",
    *(m.name for m in _ROUND_METRICS),
    *(f"{m.name}_{part}" for m in _POOLED_METRICS for part in ("median", "max")),
    "done_reason",
    "prompt",
    "options",
    "text",
    "thinking",
)


def parse_export(text: str) -> tuple[str, str]:
    """``FORMAT=PATH`` -> ``(FORMAT, PATH)``.

    :raises ValueError: no ``=``, an unknown format or an empty path; the message lists the
        formats.
    """
    fmt, sep, path = text.partition("=")
    fmt = fmt.strip().lower()
    valid = ", ".join(FORMATS)
    if not sep or not path.strip():
        raise ValueError(f"expected FORMAT=PATH, got {text!r}; FORMAT one of {valid}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} in {text!r}; FORMAT one of {valid}")
    return fmt, path.strip()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _round_row(
    report: Report, case: CaseRecord, call_number: int, round_number: int, m: Measurement
) -> list[str]:
    import statistics

    call = case.calls[call_number - 1]
    pooled: list[object] = []
    for metric in _POOLED_METRICS:
        gaps: list[float] = list(getattr(m, metric.name))
        pooled += [statistics.median(gaps) if gaps else None, max(gaps) if gaps else None]
    values: list[object] = [
        report.created_at.isoformat(),
        case.test,
        case.nodeid,
        case.model,
        case.outcome,
        call_number,
        call.endpoint,
        call.api,
        round_number,
        m.warmup,
        *(getattr(m, metric.name) for metric in _ROUND_METRICS),
        *pooled,
        m.done_reason,
        call.prompt,
        call.options,
        m.text,
        m.thinking,
    ]
    return [_cell(v) for v in values]


def _csv(report: Report) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for case in report.cases:
        for call_number, call in enumerate(case.calls, start=1):
            for round_number, m in enumerate(call.rounds, start=1):
                writer.writerow(_round_row(report, case, call_number, round_number, m))
    return out.getvalue()


def _entry_name(case: CaseRecord, metric: Metric) -> str:
    """Stable across runs (the action draws one chart per name): test, model and metric."""
    return f"{case.test} ({case.model}) {metric.name}"


def _entries(report: Report, direction: Literal["lower", "higher"]) -> Iterator[dict[str, Any]]:
    for case in report.cases:
        if case.outcome == "skipped":
            continue
        for metric in METRICS:
            found = case.stats.get(metric.name)
            if metric.direction != direction or found is None:
                continue
            extra = [
                f"median of {found.n} measured round{'s' if found.n != 1 else ''}",
                f"mean {found.mean:.3f}, min {found.min:.3f}, max {found.max:.3f}",
                f"p90 {found.p90:.3f}, p95 {found.p95:.3f}, p99 {found.p99:.3f}",
                f"outcome: {case.outcome}",
            ]
            if case.model_details is not None and case.model_details.digest:
                extra.append(f"model digest: {case.model_details.digest[:12]}")
            yield {
                "name": _entry_name(case, metric),
                "unit": metric.unit or "count",
                "value": found.median,
                "range": f"± {found.stddev:.3f}",
                "extra": "\n".join(extra),
            }


def github_entries(report: Report, direction: Literal["lower", "higher"]) -> list[dict[str, Any]]:
    """github-action-benchmark entries of the metrics better when ``direction`` (see the
    module); skipped cases and counts (no direction) are left out."""
    return list(_entries(report, direction))


def export_text(report: Report, fmt: str) -> str:
    """``report`` in export format ``fmt`` (one of :data:`FORMATS`).

    :raises ValueError: an unknown format.
    """
    if fmt == "csv":
        return _csv(report)
    if fmt in ("github-smaller", "github-bigger"):
        direction: Literal["lower", "higher"] = "lower" if fmt == "github-smaller" else "higher"
        return json.dumps(github_entries(report, direction), indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")
