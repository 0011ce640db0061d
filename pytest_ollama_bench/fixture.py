"""The object behind the ``ollama_bench`` fixture.

Each call runs warmup rounds, then measured rounds, against the selected model, and returns a
:class:`BenchResult`. The fixture gets narrow collaborators, as pytest-benchmark's does: a
:class:`Runner` that runs a call against the server, a function that makes sure models are
available (skipping or failing the test otherwise), a function that attaches a call's
:class:`~pytest_ollama_bench.models.CallRecord` to the test's report, and one told of each
completed round (progress on the terminal).
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
from typing import cast

import pytest

from .collect import trim_text
from .errors import ServerError
from .hostlock import HostLockTimeout
from .models import CallRecord
from .models import Endpoint
from .models import Measurement
from .models import Stats
from .settings import Settings
from .spec import BenchSpec
from .stats import stats_over

if TYPE_CHECKING:
    from .runtime import BenchClient

__all__ = ["BenchResult", "OllamaBench", "Runner"]

T = TypeVar("T")
Prompt = str | Sequence[Mapping[str, Any]]
Outcome = tuple[CallRecord, BaseException | None]


class Runner(Protocol):
    """Runs a benchmark call (a coroutine function of a client) against the server."""

    def run_sync(self, fn: Callable[[BenchClient], Awaitable[T]]) -> T: ...

    async def run_async(self, fn: Callable[[BenchClient], Awaitable[T]]) -> T: ...


#: Called after each round with the round's measurement, its number among the call's warmup
#: or measured rounds (from 1), and how many of those the call runs (progress display).
RoundDone = Callable[[Measurement, int, int], None]


class EnsureAvailable(Protocol):
    """Makes sure the server has models: returns those a call may use.

    With ``some=False`` every model must be there (the test is skipped, or failed under
    ``--ollama-require``, otherwise); with ``some=True`` the missing ones are recorded as
    skipped and the others returned (the test is skipped only when none is there).
    """

    def __call__(self, models: Sequence[str], some: bool = False) -> list[str]: ...


class BenchResult:
    """What one ``chat``/``generate`` call measured.

    :ivar text: the answer of the last round.
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
        self.text: str = last.text if last else ""
        self.thinking: str = last.thinking if last else ""

    def __repr__(self) -> str:
        ttft = self.stats.get("ttft_ms")
        median = f", ttft_ms median {ttft.median:.1f}" if ttft else ""
        return f"<BenchResult {self.model} {len(self.rounds)} round(s){median}: {self.text[:60]!r}>"


def _messages(prompt: Prompt, system: str | None) -> list[dict[str, Any]]:
    if isinstance(prompt, str):
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, Sequence) and all(isinstance(m, Mapping) for m in prompt):
        messages = [dict(cast(Mapping[str, Any], m)) for m in prompt]
    else:
        raise TypeError(
            "ollama_bench.chat() takes a prompt string or a list of message dicts such as "
            f"[{{'role': 'user', 'content': '...'}}], got {prompt!r}"
        )
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return messages


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
        attach: Callable[[CallRecord], None],
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
        **extra: Any,
    ) -> BenchResult:
        """Send a chat prompt (or message list) for warmup + measured rounds; sync."""
        __tracebackhide__ = True
        call = self._call("chat", prompt_or_messages, system, options, rounds, warmup, model, extra)
        return self._finish(self._run_sync(call))

    def generate(
        self,
        prompt: str,
        *,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        rounds: int | None = None,
        warmup: int | None = None,
        model: str | None = None,
        **extra: Any,
    ) -> BenchResult:
        """Send a raw ``/api/generate`` prompt for warmup + measured rounds; sync."""
        __tracebackhide__ = True
        call = self._call("generate", prompt, system, options, rounds, warmup, model, extra)
        return self._finish(self._run_sync(call))

    async def achat(
        self,
        prompt_or_messages: Prompt,
        *,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        rounds: int | None = None,
        warmup: int | None = None,
        model: str | None = None,
        **extra: Any,
    ) -> BenchResult:
        """Async twin of :meth:`chat`, for ``async def`` tests (asyncio, or trio via anyio or
        pytest-trio: there the call runs on the plugin's own loop in a worker thread)."""
        __tracebackhide__ = True
        call = self._call("chat", prompt_or_messages, system, options, rounds, warmup, model, extra)
        return self._finish(await self._run_async(call))

    async def agenerate(
        self,
        prompt: str,
        *,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        rounds: int | None = None,
        warmup: int | None = None,
        model: str | None = None,
        **extra: Any,
    ) -> BenchResult:
        """Async twin of :meth:`generate`."""
        __tracebackhide__ = True
        call = self._call("generate", prompt, system, options, rounds, warmup, model, extra)
        return self._finish(await self._run_async(call))

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
        **extra: Any,
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
            self._call(endpoint, prompt_or_messages, system, options, rounds, warmup, name, extra,
                       parallel=parallel)
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

    def _call(
        self,
        endpoint: Endpoint,
        prompt: Prompt,
        system: str | None,
        options: Mapping[str, Any] | None,
        rounds: int | None,
        warmup: int | None,
        model: str | None,
        extra: Mapping[str, Any],
        *,
        parallel: bool = False,
    ) -> Callable[[BenchClient], Awaitable[Outcome]]:
        """Validate the arguments now and return the coroutine function that runs the call."""
        name = self._resolve_model(model)
        n_rounds = self._spec.rounds_for(self._settings, rounds)
        n_warmup = self._spec.warmup_for(self._settings, warmup)
        if self._settings.smoke:  # --ollama-smoke: prove the call works, measure nothing
            n_rounds, n_warmup = 1, 0
        if n_rounds < 1 or n_warmup < 0:
            raise ValueError(f"rounds must be >= 1 and warmup >= 0, got {n_rounds}, {n_warmup}")
        merged = {**self._spec.options, **(options or {})}
        if endpoint == "chat":
            messages = _messages(prompt, system)
        elif not isinstance(prompt, str):
            raise TypeError(f"ollama_bench.generate() takes a prompt string, got {prompt!r}")
        nodeid = self._nodeid
        api = self._settings.api
        progress = self._progress

        async def once(client: BenchClient, is_warmup: bool) -> Measurement:
            if endpoint == "chat":
                return await client.chat(
                    name, messages, options=merged or None, warmup=is_warmup, **extra
                )
            assert isinstance(prompt, str)
            return await client.generate(
                name, prompt, system=system, options=merged or None, warmup=is_warmup, **extra
            )

        async def run(client: BenchClient) -> Outcome:
            done: list[Measurement] = []
            error: BaseException | None = None
            try:
                for i in range(n_warmup + n_rounds):
                    warm = i < n_warmup
                    done.append(await once(client, warm))
                    if progress is not None:
                        number, of = (i + 1, n_warmup) if warm else (i + 1 - n_warmup, n_rounds)
                        progress(done[-1], number, of)
            except ServerError as exc:
                error = exc
            record = CallRecord(
                nodeid=nodeid,
                model=name,
                endpoint=endpoint,
                api=api,
                prompt=prompt if isinstance(prompt, str) else messages,
                system=system,
                options=merged,
                parallel=parallel,
                round_count=n_rounds,
                warmup_count=n_warmup,
                rounds=done,
                stats=stats_over(done),
                error=None if error is None else str(error),
            )
            return record, error

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
