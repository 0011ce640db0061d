"""``ollama_bench.load()`` and ``ollama_bench.sweep()``: the fixture's load runs.

:class:`LoadCalls` is the part of :class:`~.fixture.OllamaBench` that runs them: the arguments
are checked into a :class:`~.loadplan.LoadPlan` before any request (the marker's options,
warmup and cache policy apply as to a call), the run goes through the test's runner on its
server, holding that server's lock for the whole run (a sweep: for all its levels), and every
run's :class:`~.models.LoadRecord` is attached to the test's report. A
:class:`~.workload.Workload` may stand for the prompts: request ``i`` is its ``item(i)``,
sized with the model's calibration when it has ``input_tokens``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar
from typing import cast

import pytest

from .api_fields import check_endpoint
from .api_fields import check_fields
from .checks import Check
from .collect import trim_load_text
from .loadresult import LoadResult
from .loadresult import SweepResult
from .models import CallRecord
from .models import Endpoint
from .models import LoadRecord
from .settings import Settings
from .spec import BenchSpec
from .workload import Workload

if TYPE_CHECKING:
    from .errors import ServerError
    from .loadplan import LoadPlan
    from .runtime import BenchClient
    from .synthetic import Calibration

__all__ = ["LoadCalls"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

T = TypeVar("T")
Runs = tuple[list[LoadRecord], "ServerError | None"]
_LOAD_KEYWORDS = (
    "concurrency", "rate", "requests", "duration_s", "warmup", "slo", "options", "endpoint",
    "seed", "check", "system", "model", "output_tokens",
)  # fmt: skip
_SWEEP_KEYWORDS = ("concurrency", "rates", *_LOAD_KEYWORDS[2:])


class LoadCalls:
    """``load()`` and ``sweep()`` of :class:`~.fixture.OllamaBench` (which provides the rest)."""

    _nodeid: str
    _spec: BenchSpec
    _settings: Settings
    _attach: Callable[[CallRecord | LoadRecord], None]
    _sweeps: int

    if TYPE_CHECKING:

        def _resolve_model(self, model: str | None) -> str: ...

        def _run_sync(self, fn: Callable[[BenchClient], Awaitable[T]]) -> T: ...

        def calibration(
            self,
            model: str | None = None,
            *,
            endpoint: Endpoint = "chat",
            system: str | None = None,
        ) -> Calibration: ...

    def load(
        self,
        prompts: object,
        *,
        concurrency: int | None = None,
        rate: float | None = None,
        requests: int | None = None,
        duration_s: float | None = None,
        warmup: int | None = None,
        slo: Mapping[str, float] | None = None,
        options: Mapping[str, Any] | None = None,
        endpoint: Endpoint = "chat",
        seed: int | None = None,
        check: Check | None = None,
        system: str | None = None,
        model: str | None = None,
        output_tokens: int | None = None,
        **fields: Any,
    ) -> LoadResult:
        """Send many requests at once and measure the server under that load; sync.

        ``concurrency=N`` keeps N requests in flight (a closed loop); ``rate=R`` sends R
        requests per second as Poisson arrivals (an open loop, seeded by ``seed``; with
        ``concurrency`` too, at most N in flight). The run stops after ``requests`` measured
        requests and/or ``duration_s`` seconds; ``warmup`` requests (default: the test's
        warmup) go first and are left out of every number.

        :param prompts: a string, a messages list, a list of either (used in turn), a function
            of the request's number returning one (or a :class:`~.loadplan.LoadRequest` with
            options of its own; None ends the run), an iterator of them, or a
            :class:`~.workload.Workload`.
        :param slo: limits every request must meet on its own (p100), e.g. ``{"ttft_ms": 2000,
            "tpot_ms": 100}``: ``goodput`` and ``slo_attainment`` count the requests that did.
        :param check: a function of the answer text that raises (or returns False) on a bad
            answer: a request whose answer fails it is not good, whatever its latency; the
            failures are in ``check_failures`` (they do not fail the test by themselves).
        :param output_tokens: answers of this many tokens (``num_predict`` and ``ignore_eos``).
        :param fields: any other request field (``think``, ``format``, ...), sent as given.
        :returns: a :class:`~.loadresult.LoadResult`; failed requests are counted by kind.
            The test fails when the run could not go on (model missing, server unreachable)
            or no measured request completed. Gates apply to the run (see the README).
        :raises TypeError: a keyword that is no request field, a prompt of the wrong type.
        :raises ValueError: neither ``concurrency`` nor ``rate``, or neither ``requests`` nor
            ``duration_s``, a value out of range, an unknown SLO metric.
        """
        __tracebackhide__ = True
        plan = self._load_plan(
            prompts, model, endpoint, system, options, fields, _LOAD_KEYWORDS,
            "ollama_bench.load()", concurrency=concurrency, rate=rate, requests=requests,
            duration_s=duration_s, warmup=warmup, slo=slo, seed=seed, check=check,
            output_tokens=output_tokens,
        )  # fmt: skip
        from .load import run_load

        async def run(client: BenchClient) -> Runs:
            record, error = await run_load(plan, client)
            return [record], error

        return self._finish_load(*self._run_sync(run))[0]

    def sweep(
        self,
        prompts: object,
        *,
        concurrency: Sequence[int] | None = None,
        rates: Sequence[float] | None = None,
        requests: int | None = None,
        duration_s: float | None = None,
        warmup: int | None = None,
        slo: Mapping[str, float] | None = None,
        options: Mapping[str, Any] | None = None,
        endpoint: Endpoint = "chat",
        seed: int | None = None,
        check: Check | None = None,
        system: str | None = None,
        model: str | None = None,
        output_tokens: int | None = None,
        **fields: Any,
    ) -> SweepResult:
        """:meth:`load` at each level, one after the other: ``concurrency=[1, 2, 4, 8]`` or
        ``rates=[0.5, 1, 2]`` (increasing), each level with ``requests``/``duration_s``; the
        warmup runs once, before the first level. Returns a
        :class:`~.loadresult.SweepResult` with one :class:`~.loadresult.LoadResult` per level
        and ``.saturation``: the first level after which throughput grows by less than 10 %
        while the p99 TTFT keeps growing (None if none). Holds the server for the whole sweep.

        :raises ValueError: both or neither of ``concurrency`` and ``rates``, levels that do not
            increase, and whatever :meth:`load` rejects.
        """
        __tracebackhide__ = True
        # a mistyped keyword (rate=) first: it may be why neither level list is given
        check_fields(endpoint, fields, call="ollama_bench.sweep()", own=_SWEEP_KEYWORDS)
        if (concurrency is None) == (rates is None):
            raise ValueError(
                "ollama_bench.sweep() takes concurrency=[1, 2, 4, ...] (closed loops) or "
                "rates=[0.5, 1, 2, ...] (open loops, requests/s), one of them"
            )
        levels = list(concurrency if concurrency is not None else rates or [])
        first = levels[0] if levels else None
        plan = self._load_plan(
            prompts, model, endpoint, system, options, fields, _SWEEP_KEYWORDS,
            "ollama_bench.sweep()", concurrency=first if concurrency is not None else None,
            rate=first if rates is not None else None, requests=requests,
            duration_s=duration_s, warmup=warmup, slo=slo, seed=seed, check=check,
            output_tokens=output_tokens,
        )  # fmt: skip
        from .load import run_sweep
        from .loadplan import sweep_plans

        self._sweeps += 1
        plans = sweep_plans(plan, levels, self._sweeps)

        async def run(client: BenchClient) -> Runs:
            return await run_sweep(plans, client)

        return SweepResult(self._finish_load(*self._run_sync(run)))

    # ----------------------------------------------------------------- internals

    def _load_plan(
        self,
        prompts: object,
        model: str | None,
        endpoint: Endpoint,
        system: str | None,
        options: Mapping[str, Any] | None,
        fields: Mapping[str, Any],
        own: Sequence[str],
        call: str,
        **asked: Any,
    ) -> LoadPlan:
        """Validate a load run's arguments (before any request) into its plan."""
        __tracebackhide__ = True  # pytest shows the error at the caller's line
        from .loadplan import plan_load

        check_endpoint(endpoint, call=call)
        name = self._resolve_model(model)
        spec, settings = self._spec, self._settings
        asked["warmup"] = spec.warmup_for(settings, asked["warmup"])
        if settings.smoke:  # --ollama-smoke: one request per run proves it works
            asked.update(requests=1, duration_s=None, warmup=0)
        described = None
        if _is_workload(prompts):
            workload = cast(Workload, prompts)
            sizes = None
            if workload.input_tokens is not None:
                sizes = self.calibration(name, endpoint=endpoint, system=system)
            described = workload.describe()

            def item(number: int) -> object:
                return workload.item(number, sizes)

            prompts = item
        return plan_load(
            nodeid=self._nodeid,
            model=name,
            endpoint=endpoint,
            api=settings.api,
            prompts=prompts,
            system=system,
            options={**spec.options, **(options or {})},
            fields=fields,
            cache=spec.cache_for(settings),
            own=own,
            workload=described,
            call=call,
            **asked,
        )

    def _finish_load(
        self, records: list[LoadRecord], error: ServerError | None
    ) -> list[LoadResult]:
        """Attach the runs' records, then fail the test when a run could not go on or had
        no completed request; returns the results."""
        __tracebackhide__ = True
        for record in records:
            self._attach(trim_load_text(record, self._settings.record_text))
        results = [LoadResult(r) for r in records]  # the test sees every character
        if error is not None:
            pytest.fail(f"load run on {records[-1].model!r} stopped: {error}", pytrace=False)
        for result in results:
            if result.completed == 0 and result.failed:
                kinds = ", ".join(f"{n} {k}" for k, n in result.errors.items())
                first = result.failures[0].error if result.failures else ""
                failed = (
                    f"none of its {result.failed} requests completed ({kinds}); the first"
                    if result.failed != 1
                    else f"its 1 request did not complete ({kinds})"
                )
                pytest.fail(
                    f"load run on {result.model!r} at {result.mode} {result.level:g}: {failed}: "
                    f"{first}",
                    pytrace=False,
                )
        return results


def _is_workload(prompts: object) -> bool:
    """Whether ``prompts`` is a :class:`~.workload.Workload` (told by its methods too: pytester's
    inner runs import modules afresh, so the class may not be the one a test imported)."""
    return isinstance(prompts, Workload) or (
        callable(getattr(prompts, "item", None))
        and callable(getattr(prompts, "describe", None))
        and hasattr(prompts, "input_tokens")
    )
