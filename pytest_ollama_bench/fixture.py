"""The object behind the ``ollama_bench`` fixture.

Each call runs warmup rounds, then measured rounds, against the selected model, and returns a
:class:`BenchResult`. The fixture gets narrow collaborators, as pytest-benchmark's does: a
:class:`Runner` that runs a call against the server, a function that makes sure models are
available (skipping or failing the test otherwise), a function that attaches a call's
:class:`~pytest_ollama_bench.models.CallRecord` to the test's report, and one told of each
completed round (progress on the terminal). A call's rounds and policies are
:mod:`pytest_ollama_bench.calls`'.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import TypeVar

import pytest

from .calls import CALL_KEYWORDS
from .calls import CallPlan
from .calls import Prompt
from .calls import RoundDone
from .calls import plan_call
from .calls import run_call
from .checks import Check
from .collect import trim_load_text
from .collect import trim_text
from .hostlock import HostLockTimeout
from .loadresult import LoadResult
from .loadresult import SweepResult
from .models import CallRecord
from .models import Endpoint
from .models import LoadRecord
from .models import Measurement
from .models import Stats
from .settings import Settings
from .spec import BenchSpec

if TYPE_CHECKING:
    from .errors import ServerError
    from .loadplan import LoadPlan
    from .runtime import BenchClient

__all__ = ["BenchResult", "OllamaBench", "Runner"]

T = TypeVar("T")
Outcome = tuple[CallRecord, BaseException | None]
_COMPARE_KEYWORDS = ("models", "endpoint", "parallel", *CALL_KEYWORDS[:4], "check")
_LOAD_KEYWORDS = (
    "concurrency", "rate", "requests", "duration_s", "warmup", "slo", "options", "endpoint",
    "seed", "check", "system", "model",
)  # fmt: skip
_SWEEP_KEYWORDS = ("rates", *_LOAD_KEYWORDS)


class Runner(Protocol):
    """Runs a benchmark call (a coroutine function of a client) against the server."""

    def run_sync(self, fn: Callable[[BenchClient], Awaitable[T]]) -> T: ...

    async def run_async(self, fn: Callable[[BenchClient], Awaitable[T]]) -> T: ...


class EnsureAvailable(Protocol):
    """Makes sure the server has models: returns those a call may use.

    With ``some=False`` every model must be there (the test is skipped, or failed under
    ``--ollama-require``, otherwise); with ``some=True`` the missing ones are recorded as
    skipped and the others returned (the test is skipped only when none is there).
    """

    def __call__(self, models: Sequence[str], some: bool = False) -> list[str]: ...


class BenchResult:
    """What one ``chat``/``generate`` call measured.

    :ivar text: the answer of the last measured round (:attr:`texts` has every one).
    :ivar texts: the answer of every measured round, in order.
    :ivar thinking: the last measured round's thinking text.
    :ivar tool_calls: the last measured round's tool calls, in Ollama's shape
        (``{"id", "function": {"index", "name", "arguments"}}``).
    :ivar pass_rate: the share of measured rounds whose answer passed ``check=`` (None
        without a check); each round's ``pass_rate`` and ``check_error`` say which and why.
    :ivar rounds: the measured rounds (:class:`Measurement`), warmup excluded.
    :ivar warmup_rounds: the warmup rounds, kept but left out of :attr:`stats`.
    :ivar stats: metric name -> :class:`Stats` over :attr:`rounds`.
    """

    def __init__(self, record: CallRecord) -> None:
        self.record = record
        self.model = record.model
        self.rounds: list[Measurement] = [m for m in record.rounds if not m.warmup]
        self.warmup_rounds: list[Measurement] = [m for m in record.rounds if m.warmup]
        self.stats: dict[str, Stats] = dict(record.stats)
        last = self.rounds[-1] if self.rounds else None
        self.texts: list[str] = [m.text for m in self.rounds]
        self.text: str = last.text if last else ""
        self.thinking: str = last.thinking if last else ""
        self.tool_calls: list[dict[str, Any]] = list(last.tool_calls) if last else []
        checked = [m.pass_rate for m in self.rounds if m.pass_rate is not None]
        self.pass_rate: float | None = sum(checked) / len(checked) if checked else None

    def __repr__(self) -> str:
        ttft = self.stats.get("ttft_ms")
        median = f", ttft_ms median {ttft.median:.1f}" if ttft else ""
        return f"<BenchResult {self.model} {len(self.rounds)} round(s){median}: {self.text[:60]!r}>"


class OllamaBench:
    """Benchmark calls for one test; the ``ollama_bench`` fixture returns one per test.

    :ivar model: the model this test instance runs with (``test_x[llama3.2]`` -> ``"llama3.2"``),
        or None for a test that is not fanned out over models.
    """

    def __init__(
        self,
        *,
        nodeid: str,
        model: str | None,
        spec: BenchSpec,
        settings: Settings,
        runner: Runner,
        ensure_available: EnsureAvailable,
        attach: Callable[[CallRecord | LoadRecord], None],
        host: str,
        progress: RoundDone | None = None,
    ) -> None:
        self._nodeid = nodeid
        self._spec = spec
        self._settings = settings
        self._runner = runner
        self._ensure_available = ensure_available
        self._attach = attach
        self._host = host
        self._progress = progress
        self.model = model
        self.results: list[BenchResult] = []
        self._sweeps = 0

    def __repr__(self) -> str:
        return f"<OllamaBench model={self.model!r} host={self._host!r}>"

    # ----------------------------------------------------------------- public API

    def chat(
        self,
        prompt_or_messages: Prompt,
        *,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        rounds: int | None = None,
        warmup: int | None = None,
        model: str | None = None,
        check: Check | None = None,
        **fields: Any,
    ) -> BenchResult:
        """Send a chat prompt (or message list) for warmup + measured rounds; sync.

        :param check: a function of the answer text that raises (or returns False) on a bad
            answer; it runs on every round, and ``pass_rate`` gates it (every answer must pass
            unless a ``min_pass_rate`` or ``pass_rate`` gate says otherwise).
        :param fields: any other ``/api/chat`` request field (``tools``, ``format``, ``think``,
            ``keep_alive``, ``logprobs``, ...), passed through.
        :raises TypeError: a keyword that is no request field (before any request).
        """
        __tracebackhide__ = True
        plan = self._plan("chat", prompt_or_messages, system, options, rounds, warmup, model,
                          check, fields)  # fmt: skip
        return self._finish(self._run_sync(self._runner_for(plan)))

    def generate(
        self,
        prompt: str,
        *,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        rounds: int | None = None,
        warmup: int | None = None,
        model: str | None = None,
        check: Check | None = None,
        **fields: Any,
    ) -> BenchResult:
        """Send an ``/api/generate`` prompt for warmup + measured rounds; sync.

        ``check`` as for :meth:`chat`; ``fields`` are any other ``/api/generate`` request
        field (``raw``, ``suffix``, ``template``, ``context``, ``images``, ``format``, ...).
        """
        __tracebackhide__ = True
        plan = self._plan("generate", prompt, system, options, rounds, warmup, model, check,
                          fields)  # fmt: skip
        return self._finish(self._run_sync(self._runner_for(plan)))

    async def achat(
        self,
        prompt_or_messages: Prompt,
        *,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        rounds: int | None = None,
        warmup: int | None = None,
        model: str | None = None,
        check: Check | None = None,
        **fields: Any,
    ) -> BenchResult:
        """Async twin of :meth:`chat`, for ``async def`` tests (asyncio, or trio via anyio or
        pytest-trio: there the call runs on the plugin's own loop in a worker thread)."""
        __tracebackhide__ = True
        plan = self._plan("chat", prompt_or_messages, system, options, rounds, warmup, model,
                          check, fields)  # fmt: skip
        return self._finish(await self._run_async(self._runner_for(plan)))

    async def agenerate(
        self,
        prompt: str,
        *,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        rounds: int | None = None,
        warmup: int | None = None,
        model: str | None = None,
        check: Check | None = None,
        **fields: Any,
    ) -> BenchResult:
        """Async twin of :meth:`generate`."""
        __tracebackhide__ = True
        plan = self._plan("generate", prompt, system, options, rounds, warmup, model, check,
                          fields)  # fmt: skip
        return self._finish(await self._run_async(self._runner_for(plan)))

    def compare(
        self,
        prompt_or_messages: Prompt,
        *,
        models: Sequence[str] | None = None,
        endpoint: Endpoint = "chat",
        parallel: bool = False,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        rounds: int | None = None,
        warmup: int | None = None,
        check: Check | None = None,
        **fields: Any,
    ) -> dict[str, BenchResult]:
        """Run one prompt on several models in this one test; returns model -> result.

        ``models`` defaults to the marker's, else ``--ollama-models``. Models run one after
        the other; ``parallel=True`` sends them concurrently (the record says so), which
        measures contention rather than each model alone. A model the server does not have is
        left out of the result and recorded as skipped with its reason (under
        ``--ollama-require`` it fails the test); with none of them there the test is skipped.
        A test whose code calls ``compare()`` runs once, not once per model.
        """
        names = self._compare_models(models)
        calls = [
            self._runner_for(
                self._plan(endpoint, prompt_or_messages, system, options, rounds, warmup, name,
                           check, fields, parallel=parallel, own=_COMPARE_KEYWORDS)
            )
            for name in names
        ]  # fmt: skip

        async def run_all(client: BenchClient) -> list[Outcome]:
            if parallel:
                return list(await asyncio.gather(*(c(client) for c in calls)))
            return [await c(client) for c in calls]

        outcomes = self._run_sync(run_all)
        results = [self._finish(outcome, raise_error=False) for outcome in outcomes]
        _raise_first_error(outcomes)
        return {r.model: r for r in results}

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
            options of its own; None ends the run), or an iterator of them.
        :param slo: limits every request must meet on its own (p100), e.g. ``{"ttft_ms": 2000,
            "tpot_ms": 100}``: ``goodput`` and ``slo_attainment`` count the requests that did.
        :param check: a function of the answer text that raises (or returns False) on a bad
            answer: a request whose answer fails it is not good, whatever its latency; the
            failures are in ``check_failures`` (they do not fail the test by themselves).
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
            prompts, concurrency, rate, requests, duration_s, warmup, slo, options, endpoint,
            seed, check, system, model, fields, own=_LOAD_KEYWORDS,
        )  # fmt: skip
        from .load import run_load

        async def run(client: BenchClient) -> tuple[list[LoadRecord], ServerError | None]:
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
        if (concurrency is None) == (rates is None):
            raise ValueError(
                "ollama_bench.sweep() takes concurrency=[1, 2, 4, ...] (closed loops) or "
                "rates=[0.5, 1, 2, ...] (open loops, requests/s), one of them"
            )
        levels = list(concurrency if concurrency is not None else rates or [])
        first = levels[0] if levels else None
        plan = self._load_plan(
            prompts, first if concurrency is not None else None,
            first if rates is not None else None, requests, duration_s, warmup, slo, options,
            endpoint, seed, check, system, model, fields, own=_SWEEP_KEYWORDS,
        )  # fmt: skip
        from .load import run_sweep
        from .load import sweep_plans

        self._sweeps += 1
        plans = sweep_plans(plan, levels, self._sweeps)

        async def run(client: BenchClient) -> tuple[list[LoadRecord], ServerError | None]:
            return await run_sweep(plans, client)

        return SweepResult(self._finish_load(*self._run_sync(run)))

    # ----------------------------------------------------------------- internals

    def _run_sync(self, fn: Callable[[BenchClient], Awaitable[T]]) -> T:
        try:
            return self._runner.run_sync(fn)
        except HostLockTimeout as exc:
            pytest.fail(str(exc), pytrace=False)

    async def _run_async(self, fn: Callable[[BenchClient], Awaitable[T]]) -> T:
        try:
            return await self._runner.run_async(fn)
        except HostLockTimeout as exc:
            pytest.fail(str(exc), pytrace=False)

    def _compare_models(self, models: Sequence[str] | None) -> list[str]:
        if isinstance(models, str):
            models = [models]
        if models is None and self.model is not None:
            pytest.fail(
                f"ollama_bench.compare() without models= in {self._nodeid}, which runs once per "
                "model, would compare every model in each run; call compare() in the test "
                "function itself (such a test runs once) or pass models=[...]",
                pytrace=False,
            )
        names = list(models or self._spec.models or self._settings.models)
        if not names:
            raise pytest.skip.Exception(
                "ollama_bench.compare() has no models: pass models=[...], set "
                "@pytest.mark.llm_bench(models=[...]) or run pytest --ollama-models=NAME[,NAME]",
                _use_item_location=True,
            )
        return self._ensure_available(names, some=True)

    def _resolve_model(self, model: str | None) -> str:
        if model is not None:
            if model != self.model:
                self._ensure_available([model])
            return model
        if self.model is not None:
            return self.model
        if self._spec.models or self._settings.models:
            pytest.fail(
                "ollama_bench has no model of its own here: this test calls compare(), so it "
                "runs once rather than once per model; pass model=... to this call",
                pytrace=False,
            )
        raise pytest.skip.Exception(
            "no model selected for this benchmark: run pytest --ollama-models=NAME[,NAME] (or "
            "set ollama_models in the ini file or PYTEST_OLLAMA_MODELS), or pass model=...",
            _use_item_location=True,
        )

    def _plan(
        self,
        endpoint: Endpoint,
        prompt: Prompt,
        system: str | None,
        options: Mapping[str, Any] | None,
        rounds: int | None,
        warmup: int | None,
        model: str | None,
        check: Check | None,
        fields: Mapping[str, Any],
        *,
        parallel: bool = False,
        own: Sequence[str] = CALL_KEYWORDS,
    ) -> CallPlan:
        """Validate the arguments now (before any request) into the call's plan."""
        name = self._resolve_model(model)
        spec, settings = self._spec, self._settings
        n_rounds = spec.rounds_for(settings, rounds)
        n_warmup = spec.warmup_for(settings, warmup)
        if settings.smoke:  # --ollama-smoke: prove the call works, measure nothing
            n_rounds, n_warmup = 1, 0
        return plan_call(
            nodeid=self._nodeid,
            model=name,
            endpoint=endpoint,
            api=settings.api,
            prompt=prompt,
            system=system,
            options={**spec.options, **(options or {})},
            fields=fields,
            rounds=n_rounds,
            warmup=n_warmup,
            start=spec.start_for(settings),
            cache=spec.cache_for(settings),
            check=check,
            parallel=parallel,
            own=own,
        )

    def _runner_for(self, plan: CallPlan) -> Callable[[BenchClient], Awaitable[Outcome]]:
        progress = self._progress

        async def run(client: BenchClient) -> Outcome:
            return await run_call(plan, client, progress)

        return run

    def _finish(self, outcome: Outcome, raise_error: bool = True) -> BenchResult:
        __tracebackhide__ = True
        record = outcome[0]
        self._attach(trim_text(record, self._settings.record_text))
        result = BenchResult(record)  # the test sees every character
        self.results.append(result)
        if raise_error:
            _raise_first_error([outcome])
        return result

    def _load_plan(
        self,
        prompts: object,
        concurrency: object,
        rate: object,
        requests: int | None,
        duration_s: float | None,
        warmup: int | None,
        slo: Mapping[str, float] | None,
        options: Mapping[str, Any] | None,
        endpoint: Endpoint,
        seed: int | None,
        check: Check | None,
        system: str | None,
        model: str | None,
        fields: Mapping[str, Any],
        *,
        own: Sequence[str],
    ) -> LoadPlan:
        """Validate a load run's arguments (before any request) into its plan."""
        from .loadplan import plan_load

        name = self._resolve_model(model)
        spec, settings = self._spec, self._settings
        n_warmup = spec.warmup_for(settings, warmup)
        if settings.smoke:  # --ollama-smoke: one request per run proves it works
            requests, duration_s, n_warmup = 1, None, 0
        return plan_load(
            nodeid=self._nodeid,
            model=name,
            endpoint=endpoint,
            api=settings.api,
            prompts=prompts,
            system=system,
            options={**spec.options, **(options or {})},
            fields=fields,
            concurrency=concurrency,  # type: ignore[arg-type]  # checked there
            rate=rate,  # type: ignore[arg-type]
            requests=requests,
            duration_s=duration_s,
            warmup=n_warmup,
            seed=seed,
            cache=spec.cache_for(settings),
            check=check,
            slo=slo,
            own=own,
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
                pytest.fail(
                    f"load run on {result.model!r} at {result.mode} {result.level:g}: none of "
                    f"its {result.failed} requests completed ({kinds}); the first: {first}",
                    pytrace=False,
                )
        return results


def _raise_first_error(outcomes: Sequence[Outcome]) -> None:
    __tracebackhide__ = True
    for record, error in outcomes:
        if error is not None:
            done = len(record.rounds)
            pytest.fail(
                f"{record.endpoint} call to {record.model!r} failed after {done} completed "
                f"round(s): {error}",
                pytrace=False,
            )
