"""Which saved measurements a run is compared with, and what differs about where they ran.

Pure, no pytest. Two kinds of baseline:

* **implicit** (``--ollama-compare`` without a value, ``latest``, or implied by
  ``--ollama-compare-fail``): for each case, its latest *good* measurement. A run counts when it
  completed (not interrupted) and did not fail its regression gate; a case of it counts when it
  passed and has statistics. So a failed or all-skipped run never becomes the baseline, and a
  partial run (``--lf``, ``-x``, ``-k``) does not hide the earlier measurements of the cases it
  did not run.
* **explicit** (a run number, a name given with ``--ollama-save NAME``, or a path): that one run,
  its cases that passed with statistics. A reference that does not resolve, or a file that is
  not a readable report, is a :class:`BaselineError` (a usage error for the plugin).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from .models import BaselineInfo
from .models import CaseRecord
from .models import Report
from .storage import BaselineNotFound
from .storage import InvalidReport
from .storage import RunStore
from .storage import load_report

__all__ = [
    "IMPLICIT",
    "Baseline",
    "BaselineError",
    "differences",
    "is_explicit",
    "load_explicit",
    "recorded_baseline",
    "select_implicit",
]

#: The reference that asks for each case's latest good measurement.
IMPLICIT = "latest"

Key = tuple[str, str]


class BaselineError(ValueError):
    """A baseline the user named cannot be used: the message names the file and why."""


def is_explicit(ref: str | None) -> bool:
    """Whether ``ref`` names one run (a number, a name, a path) rather than the implicit one."""
    return ref is not None and ref.strip() != IMPLICIT


def _key(case: CaseRecord) -> Key:
    return (case.nodeid, case.model)


def good_case(case: CaseRecord) -> bool:
    """A measurement fit to compare with: the case passed and has statistics."""
    return case.outcome == "passed" and bool(case.stats)


def good_run(report: Report) -> bool:
    """A run fit to give baselines: it completed and did not fail its regression gate."""
    return not report.interrupted and not report.regressions


@dataclass
class Baseline:
    """The baseline values of a run: per case, the record and the run file it came from.

    :ivar ref: what was asked for (``latest`` or the explicit reference).
    :ivar cases: (node id, model) -> the baseline's case record.
    :ivar sources: (node id, model) -> the run file name the record came from.
    :ivar reports: run file name -> that run (for the fingerprint comparison).
    :ivar warnings: run files that were skipped because they could not be read.
    """

    ref: str
    cases: dict[Key, CaseRecord] = field(default_factory=dict)
    sources: dict[Key, str] = field(default_factory=dict)
    reports: dict[str, Report] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def take(self, run: str, report: Report, cases: Iterable[CaseRecord]) -> None:
        """Use the good ``cases`` of ``report`` (file ``run``) not already chosen."""
        used = False
        for case in cases:
            key = _key(case)
            if key in self.cases or not good_case(case):
                continue
            self.cases[key] = case
            self.sources[key] = run
            used = True
        if used:
            self.reports[run] = report

    def as_report(self) -> Report | None:
        """A report holding the chosen cases (metadata of the newest source run), or None."""
        if not self.reports:
            return None
        newest = max(self.reports.values(), key=lambda r: r.created_at)
        return newest.model_copy(update={"cases": list(self.cases.values())})

    def info(self, current: Sequence[CaseRecord]) -> BaselineInfo:
        """What the record says about this baseline for the ``current`` cases."""
        measured = [c for c in current if c.stats]
        found = [c for c in measured if _key(c) in self.cases]
        runs = sorted({self.sources[_key(c)] for c in found})
        return BaselineInfo(
            ref=self.ref,
            runs=runs,
            cases_with_baseline=len(found),
            cases_without_baseline=len(measured) - len(found),
        )


def load_explicit(store: RunStore, ref: str) -> Baseline:
    """The one run ``ref`` names, as a baseline.

    :raises BaselineError: nothing matches ``ref``, or the file is not a report this plugin
        reads (not JSON, truncated, binary, a newer ``schema_version``, invalid fields).
    """
    try:
        path = store.resolve(ref)
        report = load_report(path)
    except (BaselineNotFound, InvalidReport) as exc:
        raise BaselineError(f"--ollama-compare={ref}: {exc}") from None
    except OSError as exc:
        raise BaselineError(f"--ollama-compare={ref}: cannot read it: {exc}") from None
    baseline = Baseline(ref=ref)
    baseline.take(path.name, report, report.cases)
    if not baseline.cases:
        baseline.warnings.append(
            f"baseline {path} has no case that passed with measurements; nothing to compare with"
        )
    return baseline


def select_implicit(store: RunStore, wanted: Iterable[Key]) -> Baseline:
    """Each wanted case's latest good measurement, newest run first.

    Runs are read newest first until every wanted case has a baseline; a run file that cannot be
    read is skipped with a warning naming it and why.
    """
    missing = set(wanted)
    baseline = Baseline(ref=IMPLICIT)
    try:
        runs = store.runs()
    except OSError as exc:
        baseline.warnings.append(f"cannot list the saved runs in {store.runs_dir}: {exc}")
        return baseline
    for path in reversed(runs):
        if not missing:
            break
        try:
            report = load_report(path)
        except (BaselineNotFound, InvalidReport, OSError) as exc:
            baseline.warnings.append(f"skipped saved run {path.name}: {exc}")
            continue
        if not good_run(report):
            continue
        baseline.take(path.name, report, (c for c in report.cases if _key(c) in missing))
        missing -= set(baseline.cases)
    return baseline


def _gpus(report: Report) -> str:
    if report.system is None:
        return ""
    return ", ".join(g.name for g in report.system.gpus) or "none"


def _ram_gb(report: Report) -> str:
    ram = report.system.ram_total_mb if report.system is not None else None
    return "" if ram is None else f"{ram / 1024:.0f} GiB"


def _machine_facts(report: Report) -> dict[str, str]:
    system = report.system
    # the embedded engine listens on a new port each session: its address is no fact about it
    host = "the embedded engine" if report.settings.embedded else report.host
    return {
        "host": host,
        "API": report.api,
        "server version": report.ollama_version or "",
        "CPU": (system.cpu_model or "") if system is not None else "",
        "logical CPUs": str(system.cpu_cores_logical or "") if system is not None else "",
        "GPU": _gpus(report),
        "RAM": _ram_gb(report),
    }


def _model_facts(case: CaseRecord) -> dict[str, str]:
    details = case.model_details
    if details is None:
        return {}
    return {
        "digest": details.digest or "",
        "quantization": details.quantization_level or "",
    }


def differences(current: Report, baseline: Baseline) -> list[str]:
    """How the baseline's runs differ from this one: machine, server and model fingerprint.

    One line per differing fact, e.g. ``baseline run 0003_...json differs: server version
    0.5.1 -> 0.6.0``. Facts either side does not know are not compared.
    """
    lines: list[str] = []
    now = _machine_facts(current)
    for run, report in sorted(baseline.reports.items()):
        then = _machine_facts(report)
        changed = [
            f"{name} {then[name]} -> {value}"
            for name, value in now.items()
            if value and then[name] and value != then[name]
        ]
        if changed:
            lines.append(f"baseline run {run} differs: {'; '.join(changed)}")
    for case in current.cases:
        base = baseline.cases.get(_key(case))
        if base is None:
            continue
        now_model, then_model = _model_facts(case), _model_facts(base)
        changed = [
            f"{name} {then_model[name]} -> {value}"
            for name, value in now_model.items()
            if value and then_model.get(name) and value != then_model[name]
        ]
        if changed:
            run = baseline.sources[_key(case)]
            lines.append(
                f"model {case.model} of {case.nodeid} differs from baseline run {run}: "
                + "; ".join(changed)
            )
    return lines


def describe_missing(info: BaselineInfo) -> str | None:
    """``no baseline for 3 of 4 cases`` (or None when every measured case has one)."""
    total = info.cases_with_baseline + info.cases_without_baseline
    if not info.cases_without_baseline:
        return None
    return f"no baseline for {info.cases_without_baseline} of {total} measured case(s)"


def source_path(store: RunStore, run: str) -> Path:
    """Where a baseline's run file lives in ``store``."""
    return store.runs_dir / run


def recorded_baseline(store: RunStore, report: Report) -> Baseline | None:
    """The baseline ``report`` was compared with when it ran, read again from ``store``.

    The record names the run files its baseline values came from (``baseline.runs``); each case
    takes its value from the newest of them that has it as a good measurement, as the session
    did. None when the run was not compared or none of those files can be read any more.
    """
    if report.baseline is None or not report.baseline.runs:
        return None
    chosen = Baseline(ref=report.baseline.ref)
    wanted = {_key(c) for c in report.cases}
    for run in sorted(report.baseline.runs, reverse=True):  # NNNN_...: newest first
        try:
            source = load_report(source_path(store, run))
        except (BaselineNotFound, InvalidReport, OSError) as exc:
            chosen.warnings.append(f"skipped saved run {run}: {exc}")
            continue
        chosen.take(run, source, (c for c in source.cases if _key(c) in wanted))
    return chosen if chosen.cases else None
