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
from .models import LoadRecord
from .models import Measurement
from .models import ModelDetails
from .models import Outcome
from .models import ResourceUse
from .stats import stats_over
from .transport import Payload

__all__ = ["CaseCollector", "build_cases", "trim_load_text", "trim_text"]


class CaseCollector:
    """Accumulates phase reports in arrival order; :meth:`cases` returns the records."""

    def __init__(self) -> None:
        self._cases: dict[tuple[str, str], CaseRecord] = {}
        # fanned-out tests whose setup passed and whose call has not reported yet
        self._running: dict[str, Payload] = {}
        self._attempts: dict[tuple[str, str], int] = {}

    def __bool__(self) -> bool:
        return bool(self._cases)

    def _update(
        self, nodeid: str, test: str, model: str, host: str | None = None, **changes: object
    ) -> None:
        key = (nodeid, model)
        case = self._cases.get(key) or CaseRecord(nodeid=nodeid, test=test, model=model, host=host)
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
        for case in built:  # a rerun's attempt replaces the one before: it is the one that counts
            key = (case.nodeid, case.model)
            if when == "call":
                self._attempts[key] = self._attempts.get(key, 0) + 1
            attempts = self._attempts.get(key, 1)
            self._cases[key] = case.model_copy(
                update={"attempts": attempts if attempts > 1 else None}
            )
        if when == "setup" and outcome == "passed" and payload.model is not None:
            self._running[nodeid] = payload
        if when == "call":
            self._running.pop(nodeid, None)
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
                    payload.host,
                    outcome=state,
                    error=error if outcome != "passed" else None,
                    duration_s=duration,
                )
        elif outcome != "passed":
            if when == "setup" and payload.model is not None:
                self._update(
                    nodeid, payload.test, payload.model, payload.host, outcome=verdict, error=error
                )
            elif when == "teardown" and outcome == "failed":
                for (case_nodeid, model), case in list(self._cases.items()):
                    if case_nodeid == nodeid and case.outcome == "passed":
                        self._update(nodeid, case.test, model, outcome="error", error=error)

    def crashed(self, nodeid: str, error: str, models: Sequence[str] = ()) -> None:
        """The process running ``nodeid`` died (pytest-xdist's crash report): an error case.

        The test's setup report names its model; when the crash lost that report too, a
        parameter of ``nodeid`` that is one of ``models`` (the selected models) does.
        """
        payload = self._running.pop(nodeid, None)
        if payload is not None and payload.model is not None:
            self._update(
                nodeid, payload.test, payload.model, payload.host, outcome="error", error=error
            )
            return
        base, bracket, params = nodeid.partition("[")
        parts = params.rstrip("]").split("-") if bracket else []
        model = next((m for m in models if m in parts), None)
        if model is None:
            return
        rest = [p for p in parts if p != model]
        test = f"{base}[{'-'.join(rest)}]" if rest else base
        self._update(nodeid, test, model, outcome="error", error=error)

    def cases(self) -> list[CaseRecord]:
        """One record per test x model, in the order the tests reported."""
        return list(self._cases.values())


def build_cases(
    *,
    nodeid: str,
    test: str,
    fanned_model: str | None,
    records: Sequence[CallRecord | LoadRecord],
    details: Callable[[str], ModelDetails | None],
    resources: ResourceUse | None = None,
    host: str | None = None,
) -> list[CaseRecord]:
    """One case per model among ``records`` (a test's calls and load runs), statistics computed
    here once.

    A model's statistics are its one call's when it made one call, else computed over the
    measured rounds of all its calls (a load run's requests keep their own, in its record).
    The outcome is left ``passed``: the controller sets it from the test's report. A model
    that is not the test's fanned-out model (a ``compare`` or ``model=`` call) is grouped
    under the full node id. ``host`` is recorded when the run has several servers.
    """
    by_model: dict[str, list[CallRecord | LoadRecord]] = {}
    for record in records:
        by_model.setdefault(record.model, []).append(record)
    cases = []
    for model, made in by_model.items():
        calls = [r for r in made if isinstance(r, CallRecord)]
        if len(calls) == 1:
            stats = dict(calls[0].stats)
        else:
            stats = stats_over(m for call in calls for m in call.rounds)
        cases.append(
            CaseRecord(
                nodeid=nodeid,
                test=test if model == fanned_model else nodeid,
                model=model,
                host=host,
                model_details=details(model),
                calls=calls,
                load=[r for r in made if isinstance(r, LoadRecord)],
                stats=stats,
                resources=resources,
            )
        )
    return cases


def _trimmed(m: Measurement, limit: int) -> Measurement:
    update: dict[str, object] = {}
    if len(m.text) > limit:
        update.update(text=m.text[:limit], text_chars=len(m.text))
    if len(m.thinking) > limit:
        update.update(thinking=m.thinking[:limit], thinking_chars=len(m.thinking))
    return m.model_copy(update=update) if update else m


def trim_text(record: CallRecord, limit: int | None) -> CallRecord:
    """``record`` with each round's text and thinking cut to ``limit`` characters (None: all).

    A cut round keeps the full length in ``text_chars`` / ``thinking_chars``, so a record of
    200,000 chunks or one 20 MB answer stays the size of its numbers.
    """
    if limit is None:
        return record
    rounds = [_trimmed(m, limit) for m in record.rounds]
    changed = any(a is not b for a, b in zip(rounds, record.rounds, strict=True))
    return record.model_copy(update={"rounds": rounds}) if changed else record


def trim_load_text(record: LoadRecord, limit: int | None) -> LoadRecord:
    """``record`` with each request's text and thinking cut as :func:`trim_text` cuts a
    call's."""
    if limit is None:
        return record
    requests = []
    for r in record.requests:
        m = r.measurement
        if m is not None and (cut := _trimmed(m, limit)) is not m:
            r = r.model_copy(update={"measurement": cut})
        requests.append(r)
    return record.model_copy(update={"requests": requests})
