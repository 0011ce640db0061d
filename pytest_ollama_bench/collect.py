"""One :class:`CaseRecord` per test x model: built from a test's calls where the test ran
(:func:`build_cases`), then completed from the phase reports on the controller
(:class:`CaseCollector`).

Pure: no pytest import. The controller passes each report's node id, phase, outcome, payload and
error text, so collection works the same in-process and on a pytest-xdist controller.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence

from .models import CallRecord
from .models import CaseRecord
from .models import ModelDetails
from .models import Outcome
from .models import ResourceUse
from .stats import stats_over
from .transport import Payload

__all__ = ["CaseCollector", "build_cases"]


class CaseCollector:
    """Accumulates phase reports in arrival order; :meth:`cases` returns the records."""

    def __init__(self) -> None:
        self._cases: dict[tuple[str, str], CaseRecord] = {}

    def __bool__(self) -> bool:
        return bool(self._cases)

    def _update(self, nodeid: str, test: str, model: str, **changes: object) -> None:
        key = (nodeid, model)
        case = self._cases.get(key) or CaseRecord(nodeid=nodeid, test=test, model=model)
        self._cases[key] = case.model_copy(update=changes)

    def add(
        self,
        *,
        nodeid: str,
        when: str,
        outcome: str,
        payload: Payload,
        error: str | None,
        duration: float,
    ) -> None:
        """Take one phase report (``when`` is setup, call or teardown)."""
        verdict: Outcome = "skipped" if outcome == "skipped" else "failed"
        if when != "call" and verdict == "failed":
            verdict = "error"
        built = [CaseRecord.model_validate(c) for c in payload.cases]
        for case in built:
            self._cases[(case.nodeid, case.model)] = case
        if when == "call":
            # a model the test could not run (compare() with a model the server lacks) was
            # built as skipped and stays so
            models = [c.model for c in built if c.outcome != "skipped"]
            if payload.model is not None and payload.model not in models:
                models.insert(0, payload.model)
            for model in models:
                test = payload.test if model == payload.model else nodeid
                state: Outcome = "passed" if outcome == "passed" else verdict
                self._update(
                    nodeid,
                    test,
                    model,
                    outcome=state,
                    error=error if outcome != "passed" else None,
                    duration_s=duration,
                )
        elif outcome != "passed":
            if when == "setup" and payload.model is not None:
                self._update(nodeid, payload.test, payload.model, outcome=verdict, error=error)
            elif when == "teardown" and outcome == "failed":
                for (case_nodeid, model), case in list(self._cases.items()):
                    if case_nodeid == nodeid and case.outcome == "passed":
                        self._update(nodeid, case.test, model, outcome="error", error=error)

    def cases(self) -> list[CaseRecord]:
        """One record per test x model, in the order the tests reported."""
        return list(self._cases.values())


def build_cases(
    *,
    nodeid: str,
    test: str,
    fanned_model: str | None,
    records: Sequence[CallRecord],
    details: Callable[[str], ModelDetails | None],
    resources: ResourceUse | None = None,
) -> list[CaseRecord]:
    """One case per model among ``records`` (a test's calls), statistics computed here once.

    A model's statistics are its one call's when it made one call, else computed over the
    measured rounds of all its calls. The outcome is left ``passed``: the controller sets it
    from the test's report. A model that is not the test's fanned-out model (a ``compare`` or
    ``model=`` call) is grouped under the full node id.
    """
    by_model: dict[str, list[CallRecord]] = {}
    for record in records:
        by_model.setdefault(record.model, []).append(record)
    cases = []
    for model, calls in by_model.items():
        if len(calls) == 1:
            stats = dict(calls[0].stats)
        else:
            stats = stats_over(m for call in calls for m in call.rounds)
        cases.append(
            CaseRecord(
                nodeid=nodeid,
                test=test if model == fanned_model else nodeid,
                model=model,
                model_details=details(model),
                calls=list(calls),
                stats=stats,
                resources=resources,
            )
        )
    return cases
