"""Turn test reports (as plain data) into one :class:`CaseRecord` per test x model.

Pure: the session passes each report's node id, phase, outcome, user properties and error
text; records, gate results and resource samples travel inside the user properties (as JSON-able
dicts) so this works the same in-process and on an xdist controller.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from .measure import stats_over
from .models import CallRecord
from .models import CaseRecord
from .models import GateResult
from .models import ModelDetails
from .models import Outcome
from .models import ResourceUse
from .transport import CASE_KEY
from .transport import DETAILS_KEY
from .transport import GATES_KEY
from .transport import INTERNAL_KEYS
from .transport import RECORD_KEY
from .transport import RESOURCES_KEY

__all__ = [
    "CaseCollector",
    "junit_properties",
    "strip_internal",
]

_JUNIT_METRICS = (
    ("ttft_ms", "median"),
    ("ttft_ms", "p95"),
    ("total_ms", "median"),
    ("tokens_per_s", "median"),
    ("prompt_tokens_per_s", "median"),
    ("load_ms", "median"),
    ("eval_count", "median"),
)


@dataclass
class _Case:
    nodeid: str
    test: str
    model: str
    outcome: Outcome = "passed"
    error: str | None = None
    duration_s: float | None = None
    calls: list[CallRecord] = field(default_factory=list)
    gates: list[GateResult] = field(default_factory=list)
    details: ModelDetails | None = None
    resources: ResourceUse | None = None


def _props(properties: Iterable[tuple[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for name, value in properties:
        if name in INTERNAL_KEYS:
            out.setdefault(name, []).append(value)
    return out


def strip_internal(properties: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """``properties`` without the plugin's transport entries."""
    return [(n, v) for n, v in properties if n not in INTERNAL_KEYS]


class CaseCollector:
    """Accumulates reports in arrival order; :meth:`cases` builds the records."""

    def __init__(self) -> None:
        self._cases: dict[tuple[str, str], _Case] = {}

    def __bool__(self) -> bool:
        return bool(self._cases)

    def _case(self, nodeid: str, test: str, model: str) -> _Case:
        key = (nodeid, model)
        if key not in self._cases:
            self._cases[key] = _Case(nodeid=nodeid, test=test, model=model)
        return self._cases[key]

    def add(
        self,
        *,
        nodeid: str,
        when: str,
        outcome: str,
        properties: Iterable[tuple[str, Any]],
        error: str | None,
        duration: float,
    ) -> None:
        """Take one phase report (``when`` is setup, call or teardown)."""
        props = _props(properties)
        meta: Mapping[str, Any] = (props.get(CASE_KEY) or [{}])[-1]
        fanned_model = meta.get("model")
        test = str(meta.get("test") or nodeid)
        if when == "setup":
            if fanned_model is None or outcome == "passed":
                return  # a skip without a model is not a case; a passed setup says nothing yet
            case = self._case(nodeid, test, str(fanned_model))
            case.outcome = "skipped" if outcome == "skipped" else "error"
            case.error = error
            return
        if when == "call":
            self._add_call(nodeid, test, fanned_model, outcome, props, error, duration)
        elif when == "teardown" and outcome == "failed":
            for (case_nodeid, _), case in self._cases.items():
                if case_nodeid == nodeid and case.outcome == "passed":
                    case.outcome = "error"
                    case.error = error

    def _add_call(
        self,
        nodeid: str,
        test: str,
        fanned_model: Any,
        outcome: str,
        props: Mapping[str, list[Any]],
        error: str | None,
        duration: float,
    ) -> None:
        records = [CallRecord.model_validate(r) for r in props.get(RECORD_KEY, [])]
        models = list(dict.fromkeys(r.model for r in records))
        if fanned_model is not None and str(fanned_model) not in models:
            models.insert(0, str(fanned_model))
        details = {k: v for d in props.get(DETAILS_KEY, []) for k, v in d.items()}
        resources = (props.get(RESOURCES_KEY) or [None])[-1]
        gates = [g for batch in props.get(GATES_KEY, []) for g in batch]
        for model in models:
            case = self._case(nodeid, test if model == fanned_model else nodeid, model)
            case.calls = [r for r in records if r.model == model]
            case.gates = [
                GateResult.model_validate({k: v for k, v in g.items() if k != "model"})
                for g in gates
                if g.get("model") == model
            ]
            case.duration_s = duration
            if model in details:
                case.details = ModelDetails.model_validate(details[model])
            if resources is not None:
                case.resources = ResourceUse.model_validate(resources)
            if outcome == "skipped":
                case.outcome = "skipped"
            elif outcome == "failed":
                case.outcome = "failed"
            case.error = error if outcome != "passed" else None

    def cases(self) -> list[CaseRecord]:
        """One record per test x model, in the order the tests reported."""
        out = []
        for case in self._cases.values():
            rounds = [m for call in case.calls for m in call.rounds]
            out.append(
                CaseRecord(
                    nodeid=case.nodeid,
                    test=case.test,
                    model=case.model,
                    model_details=case.details,
                    calls=case.calls,
                    stats=stats_over(rounds),
                    gates=case.gates,
                    outcome=case.outcome,
                    error=case.error,
                    duration_s=case.duration_s,
                    resources=case.resources,
                )
            )
        return out


def junit_properties(properties: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    """Compact per-model metrics for JUnit XML, e.g. ``ollama[llama3.2].ttft_ms.median``."""
    props = _props(properties)
    records = [CallRecord.model_validate(r) for r in props.get(RECORD_KEY, [])]
    by_model: dict[str, list[CallRecord]] = {}
    for record in records:
        by_model.setdefault(record.model, []).append(record)
    gates = [g for batch in props.get(GATES_KEY, []) for g in batch]
    out: list[tuple[str, str]] = []
    for model, calls in by_model.items():
        stats = stats_over(m for call in calls for m in call.rounds)
        prefix = f"ollama[{model}]"
        for metric, stat in _JUNIT_METRICS:
            if metric in stats:
                out.append((f"{prefix}.{metric}.{stat}", f"{getattr(stats[metric], stat):.3f}"))
        if "total_ms" in stats:
            out.append((f"{prefix}.rounds", str(stats["total_ms"].n)))
        mine = [g for g in gates if g.get("model") == model]
        if mine:
            missed = sum(1 for g in mine if not g.get("passed"))
            out.append((f"{prefix}.gates", "passed" if not missed else f"{missed} missed"))
    return out
