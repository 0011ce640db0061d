"""Exports of a run for the tools people already use: CSV, and github-action-benchmark's JSON.

Pure: no pytest import, no file writes (the callers write the text); light to import (the
option parser reads :func:`parse_export`). Every column and entry comes from the metric
registry, so a new metric is exported with no change here.

- ``csv``: one row per round of every call (warmup rounds included and marked): the run's
  date, the test, its model and outcome, the call, the round, every per-round metric of the
  registry (``itl_ms_median`` and ``itl_ms_max`` for the round's inter-token gaps), and the
  prompt, options and answer text, to score answers later. Then one row per request of every
  load run: ``load_run`` (its number in the case), ``load_mode`` and ``load_level``
  (concurrency or rate), ``round`` the request's number from 1, its metrics, ``sent_ms``,
  ``error_kind`` and ``error`` for a failed one, and the run's run-level metrics
  (``request_throughput``, ``goodput``, ...) repeated on each of its rows.
- ``github-smaller`` / ``github-bigger``: the entries of github-action-benchmark's
  ``customSmallerIsBetter`` / ``customBiggerIsBetter`` tools, one file each, as that action
  reads them (``src/extract.ts``): a JSON array of ``{name, unit, value, range, extra}``
  objects, ``name``, ``unit``, ``range`` and ``extra`` strings and ``value`` a number. One entry
  per case (test x model) and metric of that direction: its median over the measured rounds,
  the standard deviation as ``range``, the other statistics in ``extra``; and one per load run
  and run-level metric of that direction (``... concurrency 4 request_throughput``), with
  its TTFT and TPOT median and p99 (``... concurrency 4 ttft_ms p99``, :data:`LOAD_STATS`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal

from .metrics import REQUEST_METRICS
from .metrics import RUN_METRICS
from .metrics import Metric
from .metrics import metric as registered
from .suggest import did_you_mean

if TYPE_CHECKING:  # the option parser reads this module at start-up: no pydantic then
    from .models import CaseRecord
    from .models import LoadRecord
    from .models import LoadRequestRecord
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

_ROUND_METRICS: tuple[Metric, ...] = tuple(m for m in REQUEST_METRICS if not m.pooled)
_POOLED_METRICS: tuple[Metric, ...] = tuple(m for m in REQUEST_METRICS if m.pooled)

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
    "host",
    "load_run",
    "load_mode",
    "load_level",
    "sent_ms",
    "error_kind",
    "error",
    *(m.name for m in RUN_METRICS),
)
_LOAD_TAIL = len(RUN_METRICS) + 6  # the load columns after host


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
        hint = did_you_mean(fmt, tuple(FORMATS))
        raise ValueError(f"unknown export format {fmt!r}{hint} in {text!r}; FORMAT one of {valid}")
    return fmt, path.strip()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _measured_cells(m: Measurement | None) -> list[object]:
    """A measurement's metric columns (empty cells without one)."""
    import statistics

    if m is None:
        return [None] * (len(_ROUND_METRICS) + 2 * len(_POOLED_METRICS))
    pooled: list[object] = []
    for metric in _POOLED_METRICS:
        gaps: list[float] = list(getattr(m, metric.name))
        pooled += [statistics.median(gaps) if gaps else None, max(gaps) if gaps else None]
    return [*(getattr(m, metric.name) for metric in _ROUND_METRICS), *pooled]


def _round_row(
    report: Report, case: CaseRecord, call_number: int, round_number: int, m: Measurement
) -> list[str]:
    call = case.calls[call_number - 1]
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
        *_measured_cells(m),
        m.done_reason,
        call.prompt,
        call.options,
        m.text,
        m.thinking,
        case.host,
        *[None] * _LOAD_TAIL,
    ]
    return [_cell(v) for v in values]


def _request_row(
    report: Report, case: CaseRecord, run_number: int, run: LoadRecord, r: LoadRequestRecord
) -> list[str]:
    m = r.measurement
    prompt: object = None
    if r.prompt is not None and r.prompt < len(run.prompts):
        prompt = run.prompts[r.prompt]
    elif len(run.prompts) == 1:
        prompt = run.prompts[0]
    values: list[object] = [
        report.created_at.isoformat(),
        case.test,
        case.nodeid,
        case.model,
        case.outcome,
        None,
        run.endpoint,
        run.api,
        r.index + 1,
        r.warmup,
        *_measured_cells(m),
        None if m is None else m.done_reason,
        prompt,
        run.options,
        None if m is None else m.text,
        None if m is None else m.thinking,
        case.host,
        run_number,
        run.mode,
        f"{run.level:g}",
        f"{r.sent_ms:.3f}",
        r.error_kind,
        r.error,
        *(getattr(run, metric.name) for metric in RUN_METRICS),
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
        for run_number, run in enumerate(case.load, start=1):
            for request in run.requests:
                writer.writerow(_request_row(report, case, run_number, run, request))
    return out.getvalue()


def _entry_name(case: CaseRecord, metric: Metric) -> str:
    """Stable across runs (the action draws one chart per name): test, model and metric."""
    return f"{case.test} ({case.model}) {metric.name}"


def _run_names(case: CaseRecord) -> list[str]:
    """How entries name each load run of ``case``: its level (``concurrency 4``), after
    ``sweep N`` or ``load()`` when the test ran several groups of runs (a sweep's level and a
    ``load()`` run at the same level would share a name, and the action one chart), with its
    number when still not unique."""
    from .loadtable import run_groups

    groups = run_groups(case.load)
    names = [""] * len(case.load)
    for group in groups:
        label = (
            ""
            if len(groups) == 1
            else "load() "
            if group.sweep is None
            else f"sweep {group.sweep} "
        )
        for number, run in group.runs:
            names[number] = f"{label}{run.mode} {run.level:g}"
    return [
        f"{name} (run {number + 1})" if names.count(name) > 1 else name
        for number, name in enumerate(names)
    ]


#: A load run's per-request statistics exported with its run-level metrics: those of its
#: table (TTFT and TPOT, median and p99), so a chart follows the tail under load.
LOAD_STATS: tuple[tuple[str, str], ...] = (
    ("ttft_ms", "median"),
    ("ttft_ms", "p99"),
    ("tpot_ms", "median"),
    ("tpot_ms", "p99"),
)


def _run_entries(case: CaseRecord, direction: str) -> Iterator[dict[str, Any]]:
    for run, level in zip(case.load, _run_names(case), strict=True):
        for name, stat in LOAD_STATS:
            found = run.stats.get(name)
            if registered(name).direction != direction or found is None:
                continue
            yield {
                "name": f"{case.test} ({case.model}) {level} {name} {stat}",
                "unit": registered(name).unit,
                "value": getattr(found, stat),
                "range": "",
                "extra": f"{stat} of {found.n} completed request{'s' if found.n != 1 else ''}"
                f"\noutcome: {case.outcome}",
            }
        for metric in RUN_METRICS:
            value = getattr(run, metric.name)
            if metric.direction != direction or value is None:
                continue
            sent = f"{run.sent} request{'s' * (run.sent != 1)} sent"
            extra = [
                f"load run at {run.mode} {run.level:g}: {sent}, {run.completed} completed, "
                f"{run.failed} failed",
                f"outcome: {case.outcome}",
            ]
            yield {
                "name": f"{case.test} ({case.model}) {level} {metric.name}",
                "unit": metric.unit,
                "value": value,
                "range": "",
                "extra": "\n".join(extra),
            }


def _entries(report: Report, direction: Literal["lower", "higher"]) -> Iterator[dict[str, Any]]:
    for case in report.cases:
        if case.outcome == "skipped":
            continue
        yield from _run_entries(case, direction)
        for metric in REQUEST_METRICS:
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
