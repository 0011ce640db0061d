"""The load generator: many requests against one model, in a closed or an open loop.

:func:`run_load` runs a :class:`~.loadplan.LoadPlan` (``ollama_bench.load()``'s arguments,
checked) on a client and returns the run's :class:`~.models.LoadRecord` (summarised by
:mod:`.loadresult`); :func:`run_sweep` runs one plan per level
(:func:`~.loadplan.sweep_plans`). No pytest here: scripts can drive it with a client of
their own.

* **Closed loop** (``concurrency=N``): N workers, each sending its next request as soon as its
  last one ended, so N requests are always in flight.
* **Open loop** (``rate=R``): requests arrive as a Poisson process of R per second (exponential
  gaps from ``random.Random(seed)``, see :func:`~.loadplan.arrival_times`; scheduled on
  absolute times so sleep errors never add up, the last moments of each wait slept in a
  thread, finer than the event loop's millisecond timer), whatever is in flight; with
  ``concurrency=N`` too, at most N are in flight and the others wait in the client (their
  clock starts when they are sent).
* Stopped by ``requests`` (measured requests sent) and/or ``duration_s`` (no request sent
  after that many seconds); requests in flight then are awaited and counted.
* ``warmup`` requests go first, at most ``concurrency`` at a time, and are kept out of every
  number; the measured phase starts when they have ended.
* A failed request is counted by its error's kind (:func:`error_kind`) and the run goes on;
  a model the server lacks, a redirect, or a server that is unreachable before any request
  completed ends it (:data:`FATAL_KINDS`).
* ``check=`` runs on the answers after the run (a slow check never delays a stream's clock),
  and the garbage collector is paused while requests are measured (a full collection would
  stop the event loop and time every token arriving meanwhile late).

Prompts come from the plan's :class:`~.loadplan.PromptSource`: a string, a messages list, a
list of either (used in turn), a function of the request's number, or an iterator.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import time
from collections.abc import Awaitable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from typing import cast

from .calls import bust_prefix
from .checks import Check
from .checks import run_check
from .errors import ServerError
from .errors import ServerHTTPError
from .loadplan import LoadPlan
from .loadplan import arrival_times
from .loadresult import saturation_level
from .loadresult import summarize
from .models import LoadRecord
from .models import LoadRequestRecord
from .models import Measurement
from .synthetic import SizedPrompt

if TYPE_CHECKING:
    from .runtime import BenchClient

__all__ = ["FATAL_KINDS", "error_kind", "run_load", "run_sweep"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

#: Error kinds that end a run: nothing more can be measured.
FATAL_KINDS = frozenset({"model_not_found", "redirect"})
_NS = 1_000_000_000
#: An open loop waits longer than this on the event loop's timer first (it wakes up to 1 ms
#: late: epoll counts whole milliseconds), the rest in a thread (``time.sleep``, ~0.1 ms).
_COARSE_S = 0.02


def error_kind(exc: ServerError) -> str:
    """How a load run counts a failed request: ``http_503`` for an HTTP error status (503 is
    Ollama's queue full), else the error's own ``kind`` (``timeout``, ``stream_error``, ...)."""
    if isinstance(exc, ServerHTTPError) and exc.kind == "http":
        return f"http_{exc.status}"
    return exc.kind


@dataclass(frozen=True)
class _Done:
    """A request that ended (times: ``perf_counter_ns``)."""

    number: int
    warmup: bool
    sent_ns: int
    ended_ns: int
    prompt: int | None
    measurement: Measurement | None
    kind: str | None
    error: str | None


class _Run:
    """The state of one run on the event loop (single-threaded: no locks needed)."""

    def __init__(self, plan: LoadPlan, client: BenchClient) -> None:
        self.plan = plan
        self.client = client
        self.done: list[_Done] = []
        self.number = 0  # the next request's number
        self.measured_sent = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.completed = 0
        self.t0 = time.perf_counter_ns()
        self.deadline: int | None = None
        self.stopped: str | None = None
        self.fatal: ServerError | None = None

    def records(self) -> list[LoadRequestRecord]:
        """Every request so far, its times in ms from the measured phase's start."""

        def ms(t_ns: int) -> float:
            return (t_ns - self.t0) / 1e6

        return [
            LoadRequestRecord(
                index=d.number,
                warmup=d.warmup,
                sent_ms=ms(d.sent_ns),
                ended_ms=ms(d.ended_ns),
                prompt=d.prompt,
                measurement=d.measurement,
                error_kind=d.kind,
                error=d.error,
            )
            for d in sorted(self.done, key=lambda d: d.number)
        ]

    def may_send(self) -> bool:
        """Whether another measured request may go out now."""
        if self.stopped is not None:
            return False
        limit = self.plan.requests
        if limit is not None and self.measured_sent >= limit:
            return False
        return self.deadline is None or time.perf_counter_ns() < self.deadline

    async def one(self, warmup: bool) -> None:
        """Send one request and record it (a failure as its error)."""
        number = self.number
        self.number += 1
        taken = self.plan.source.take(number)
        if taken is None:
            self.stopped = self.stopped or "the prompts ran out"
            return
        prompt_index, prompt, options, asked_in, asked_out = taken
        if not warmup:
            self.measured_sent += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        plan = self.plan
        merged = {**plan.options, **(options or {})}
        sent = time.perf_counter_ns()
        measurement: Measurement | None = None
        error: ServerError | None = None
        try:
            measurement = await _send(self.client, plan, prompt, merged, warmup, number)
        except ServerError as exc:
            error = exc
        finally:
            if not warmup:
                self.in_flight -= 1
        ended = time.perf_counter_ns()
        if measurement is not None:
            sent = measurement.started_ns or sent
            self.completed += 1
            measurement = _asked(measurement, asked_in, asked_out or plan.output_tokens)
        kind = None if error is None else error_kind(error)
        text = None if error is None else str(error)
        self.done.append(_Done(number, warmup, sent, ended, prompt_index, measurement, kind, text))
        if error is not None and self.fatal is None:
            unreachable_from_the_start = kind == "unreachable" and self.completed == 0
            if kind in FATAL_KINDS or unreachable_from_the_start:
                self.fatal = error
                self.stopped = f"stopped after a request failed: {error}"

    async def warmup(self) -> None:
        count = self.plan.warmup
        width = min(count, self.plan.concurrency or 1)
        left = [count]

        async def worker() -> None:
            while left[0] > 0 and self.stopped is None:
                left[0] -= 1
                await self.one(warmup=True)

        await _all_or_none([worker() for _ in range(width)])

    async def closed(self) -> None:
        async def worker() -> None:
            while self.may_send():
                await self.one(warmup=False)

        await _all_or_none([worker() for _ in range(self.plan.concurrency or 1)])

    async def open(self) -> None:
        plan = self.plan
        assert plan.rate is not None
        schedule = arrival_times(plan.rate, plan.seed, plan.requests, plan.duration_s)
        gate = asyncio.Semaphore(plan.concurrency) if plan.concurrency else None
        tasks: set[asyncio.Task[None]] = set()
        failed: list[BaseException] = []

        async def arrive() -> None:
            if gate is None:
                await self.one(warmup=False)
                return
            async with gate:
                await self.one(warmup=False)

        def finished(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                failed.append(cast(BaseException, task.exception()))

        loop = asyncio.get_running_loop()
        timer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ollama-bench-arrivals")
        try:
            for offset in schedule:
                due = self.t0 + int(offset * _NS)
                delay = (due - time.perf_counter_ns()) / _NS
                if delay > _COARSE_S:  # most of a long wait on the loop's own timer...
                    await asyncio.sleep(delay - _COARSE_S / 2)
                    delay = (due - time.perf_counter_ns()) / _NS
                if delay > 0:  # ...the end of it in a thread: the loop's timer is 1 ms coarse
                    await loop.run_in_executor(timer, time.sleep, delay)
                if failed or self.stopped is not None:
                    break
                task = asyncio.ensure_future(arrive())
                tasks.add(task)
                task.add_done_callback(finished)
            while tasks:
                await asyncio.wait(set(tasks))
        finally:
            timer.shutdown(wait=False)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        if failed:
            raise failed[0]


async def _all_or_none(coros: Sequence[Awaitable[None]]) -> None:
    """Run ``coros`` concurrently; the first exception cancels the others and is raised (so is
    a cancellation of the caller)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise cast(BaseException, task.exception())
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_load(plan: LoadPlan, client: BenchClient) -> tuple[LoadRecord, ServerError | None]:
    """Run ``plan`` on ``client`` (on the running loop); returns its record and the error that
    ended it early, if one did (a model the server lacks, an unreachable server: see
    :data:`FATAL_KINDS`). Other failed requests are counted in the record.

    :raises TypeError: a prompt a function or iterator gave is of the wrong type.
    """
    run = _Run(plan, client)
    if plan.warmup:
        await run.warmup()
    with _collector_paused():
        run.t0 = time.perf_counter_ns()
        if plan.duration_s is not None:
            run.deadline = run.t0 + int(plan.duration_s * _NS)
        if run.stopped is None:
            if plan.mode == "rate":
                await run.open()
            else:
                await run.closed()
    records = run.records()
    if plan.check is not None:
        records = [_checked(r, plan.check) for r in records]
    record = summarize(
        plan.base_record(),
        records,
        slos=plan.slos,
        checked=plan.check is not None,
        max_in_flight=run.max_in_flight,
        stopped=run.stopped,
    )
    return record, run.fatal


async def _send(
    client: BenchClient,
    plan: LoadPlan,
    prompt: str | list[dict[str, Any]],
    options: dict[str, Any],
    warmup: bool,
    number: int,
) -> Measurement:
    """Request ``number`` of a run: ``prompt`` (a chat's messages, a generate's text), busted
    under the ``bust`` cache policy: a unique prefix first, or for a sized prompt (its count
    must not change) another variant of the same size.

    :raises ServerError: the request failed.
    """
    bust = plan.cache == "bust"
    if plan.endpoint == "chat":
        messages = list(prompt) if isinstance(prompt, list) else []
        if bust and messages:
            at = next(
                (i for i, m in enumerate(messages) if isinstance(m.get("content"), SizedPrompt)), 0
            )
            content = messages[at].get("content")
            if isinstance(content, SizedPrompt):
                busted = str(content.variant(number + 1))
            else:
                busted = bust_prefix() + str(content or "")
            messages[at] = {**messages[at], "content": busted}
        return await client.chat(
            plan.model, messages, options=options or None, warmup=warmup, **plan.fields
        )
    text, system = str(prompt), plan.system
    if bust:
        if isinstance(prompt, SizedPrompt):
            text = str(prompt.variant(number + 1))
        elif system:  # the system text comes first in the rendered prompt
            system = bust_prefix() + system
        else:
            text = bust_prefix() + text
    return await client.generate(
        plan.model, text, system=system, options=options or None, warmup=warmup, **plan.fields
    )


def _asked(m: Measurement, asked_in: int | None, asked_out: int | None) -> Measurement:
    """``m`` with what its request asked for: prompt and answer tokens, and whether the
    answer reached its length."""
    update: dict[str, Any] = {}
    if asked_in is not None:
        update["input_tokens_asked"] = asked_in
    if asked_out is not None:
        update["output_tokens_asked"] = asked_out
        if m.eval_count is not None:
            update["output_reached"] = m.eval_count >= asked_out
    return m.model_copy(update=update) if update else m


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage collection while requests are measured (as vLLM's benchmark freezes it).

    A full collection walks every live object: with a thousand streams in flight it stops the
    event loop for tens of milliseconds, and every token that arrives meanwhile is timed late.
    What exists before the run is frozen out of the collector; reference counting still frees
    everything without cycles; the collector is restored (and runs) after the run.
    """
    enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def _checked(request: LoadRequestRecord, check: Check) -> LoadRequestRecord:
    m = request.measurement
    if m is None:
        return request
    outcome = run_check(check, m.text)
    update = {"pass_rate": 1.0 if outcome.passed else 0.0, "check_error": outcome.error}
    return request.model_copy(update={"measurement": m.model_copy(update=update)})


async def run_sweep(
    plans: Sequence[LoadPlan], client: BenchClient
) -> tuple[list[LoadRecord], ServerError | None]:
    """Run the levels of a sweep one after the other; each record gets the sweep's saturation
    level (:func:`~.loadresult.saturation_level`). A fatal error stops the sweep at its
    level."""
    records: list[LoadRecord] = []
    for plan in plans:
        record, fatal = await run_load(plan, client)
        records.append(record)
        if fatal is not None:
            return records, fatal
    saturation = saturation_level(records)
    return [r.model_copy(update={"saturation": saturation}) for r in records], None
