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

from .api_fields import check_endpoint
from .calls import CALL_KEYWORDS
from .calls import CallPlan
from .calls import Prompt
from .calls import RoundDone
from .calls import plan_call
from .calls import run_call
from .checks import Check
from .collect import trim_text
from .errors import ServerError
from .hostlock import HostLockTimeout
from .loadfixture import LoadCalls
from .models import CallRecord
from .models import Endpoint
from .models import LoadRecord
from .result import BenchResult
from .settings import Settings
from .sizing import Calibrations
from .spec import BenchSpec
from .synthetic import Calibration
from .synthetic import CalibrationError
from .synthetic import SizedPrompt

if TYPE_CHECKING:
    from .runtime import BenchClient

__all__ = ["BenchResult", "OllamaBench", "Runner"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

T = TypeVar("T")
Outcome = tuple[CallRecord, BaseException | None]
_COMPARE_KEYWORDS = ("models", "endpoint", "parallel", *CALL_KEYWORDS[:4], "check", "output_tokens")


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


class OllamaBench(LoadCalls):
    """Benchmark calls for one test; the ``ollama_bench`` fixture returns one per test.

    ``load()`` and ``sweep()`` (many requests at once) are :class:`~.loadfixture.LoadCalls`'.

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
        calibrations: Calibrations | None = None,
    ) -> None:
        self._nodeid = nodeid
        self._spec = spec
        self._settings = settings
        self._runner = runner
        self._ensure_available = ensure_available
        self._attach = attach
        self._host = host
        self._progress = progress
        self._calibrations = calibrations if calibrations is not None else Calibrations()
        self.model = model
        self.results: list[BenchResult] = []
        self._sweeps = 0

    def __repr__(self) -> str:
        return f"<OllamaBench model={self.model!r} host={self._host!r}>"

    # ----------------------------------------------------------------- public API

    def prompt(
        self,
        tokens: int,
        *,
        seed: int | str = 0,
        model: str | None = None,
        endpoint: Endpoint = "chat",
        system: str | None = None,
    ) -> SizedPrompt:
        """A prompt the server counts as ``tokens`` prompt tokens for the model (± 2 %).

        The count is the server's for the whole request (``prompt_eval_count``; OpenAI:
        ``usage.prompt_tokens``): the chat template and ``system`` included, for a
        ``chat()`` with this prompt as its only user message (``endpoint="generate"``: a
        ``generate()``). The text is common English words in an order ``seed`` shuffles: the
        same seed gives the same prompt. The first prompt of a model calibrates its count
        (:meth:`calibration`). Under ``cache="bust"`` each round sends another variant of it,
        of the same count. The call's record keeps how it was made (``workload``).

        :raises ValueError: ``tokens`` fewer than the request's own tokens plus one word.
        """
        __tracebackhide__ = True  # pytest shows the error at the caller's line
        check_endpoint(endpoint, call="ollama_bench.prompt()")
        calibration = self.calibration(model, endpoint=endpoint, system=system)
        return SizedPrompt(tokens, calibration=calibration, seed=seed)

    def calibration(
        self, model: str | None = None, *, endpoint: Endpoint = "chat", system: str | None = None
    ) -> Calibration:
        """How the server counts synthetic prompts of ``model`` (default: this test's) in a
        request of this shape: two requests of 64 and 128 words the first time in this
        process, then cached. A :class:`~.workload.Workload` with ``input_tokens`` needs it.

        Fails the test when the server reports no prompt token count.
        """
        __tracebackhide__ = True
        check_endpoint(endpoint, call="ollama_bench.calibration()")
        name = self._resolve_model(model)
        found = self._calibrations.get(name, endpoint, system)
        if found is not None:
            return found
        try:
            return self._run_sync(self._calibrations.calibration_call(name, endpoint, system))
        except (ServerError, CalibrationError) as exc:
            pytest.fail(f"could not calibrate prompt sizes of {name!r}: {exc}", pytrace=False)

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
        output_tokens: int | None = None,
        **fields: Any,
    ) -> BenchResult:
        """Send a chat prompt (or message list) for warmup + measured rounds; sync.

        :param check: a function of the answer text that raises (or returns False) on a bad
            answer; it runs on every round, and ``pass_rate`` gates it (every answer must pass
            unless a ``min_pass_rate`` or ``pass_rate`` gate says otherwise).
        :param output_tokens: answers of this many tokens: sets ``num_predict`` (OpenAI:
            ``max_tokens``) and ``ignore_eos`` (honoured by llama.cpp and vLLM, ignored by
            Ollama); each round's ``output_reached`` and ``done_reason`` say whether it got there.
        :param fields: any other ``/api/chat`` request field (``tools``, ``format``, ``think``,
            ``keep_alive``, ``logprobs``, ...), passed through.
        :raises TypeError: a keyword that is no request field (before any request).
        """
        __tracebackhide__ = True
        plan = self._plan("chat", prompt_or_messages, system, options, rounds, warmup, model,
                          check, fields, output_tokens=output_tokens)  # fmt: skip
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
        output_tokens: int | None = None,
        **fields: Any,
    ) -> BenchResult:
        """Send an ``/api/generate`` prompt for warmup + measured rounds; sync.

        ``check`` and ``output_tokens`` as for :meth:`chat`; ``fields`` are any other
        ``/api/generate`` request field (``raw``, ``suffix``, ``template``, ``context``,
        ``images``, ``format``, ...).
        """
        __tracebackhide__ = True
        plan = self._plan("generate", prompt, system, options, rounds, warmup, model, check,
                          fields, output_tokens=output_tokens)  # fmt: skip
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
        output_tokens: int | None = None,
        **fields: Any,
    ) -> BenchResult:
        """Async twin of :meth:`chat`, for ``async def`` tests (asyncio, or trio via anyio or
        pytest-trio: there the call runs on the plugin's own loop in a worker thread)."""
        __tracebackhide__ = True
        plan = self._plan("chat", prompt_or_messages, system, options, rounds, warmup, model,
                          check, fields, output_tokens=output_tokens)  # fmt: skip
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
        output_tokens: int | None = None,
        **fields: Any,
    ) -> BenchResult:
        """Async twin of :meth:`generate`."""
        __tracebackhide__ = True
        plan = self._plan("generate", prompt, system, options, rounds, warmup, model, check,
                          fields, output_tokens=output_tokens)  # fmt: skip
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
        output_tokens: int | None = None,
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
        __tracebackhide__ = True  # pytest shows the error at the caller's line
        check_endpoint(endpoint, call="ollama_bench.compare()")
        names = self._compare_models(models)
        calls = [
            self._runner_for(
                self._plan(endpoint, prompt_or_messages, system, options, rounds, warmup, name,
                           check, fields, parallel=parallel, own=_COMPARE_KEYWORDS,
                           output_tokens=output_tokens)
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
        __tracebackhide__ = True  # pytest shows the error at the caller's line
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
        __tracebackhide__ = True  # pytest shows the error at the caller's line
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
        output_tokens: int | None = None,
    ) -> CallPlan:
        """Validate the arguments now (before any request) into the call's plan."""
        __tracebackhide__ = True  # pytest shows the error at the caller's line
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
            output_tokens=output_tokens,
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
