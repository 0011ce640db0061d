"""Ollama's concurrency per loaded model: ``parallel`` slots, a bounded wait, 503 beyond it.

What Ollama does (reference ollama-api.md §6.1 and §6.3 items 9-10; ``docs/faq.mdx``, "How
does Ollama handle concurrent requests?"; code read at v0.33.0-rc2):

* ``OLLAMA_NUM_PARALLEL`` requests of one loaded model run at once (default 1 since v0.9.7,
  /pull/11330; v0.2-v0.9.6 picked 4 or 1). In the code this is a FIFO semaphore of that size
  taken in the runner's ``Completion`` (``llm/llama_server.go``).
* "``OLLAMA_MAX_QUEUE`` - The maximum number of requests Ollama will queue when busy before
  rejecting additional requests. The default is 512" (FAQ). A rejected request gets HTTP 503
  with ``{"error":"server busy, please try again.  maximum pending requests exceeded"}`` (two
  spaces; ``handleScheduleError``, gin ``c.JSON``).
* Where the wait shows: ``load_duration`` ends when the scheduler hands over the runner
  (``checkpointLoaded`` in ``server/routes.go``); the slot is taken after that and the
  runner's prompt/eval timers start only once it has one. So a request that waits for a slot
  shows the wait in ``total_duration`` and in the client's TTFT, not in ``load_duration``,
  ``prompt_eval_duration`` or ``eval_duration``: ``total - (load + prompt_eval + eval)`` is the
  wait plus overhead. That is the current server (llama-server backend, v0.30+) and the Go
  runners before it.

What the front does, per model (the installed name), for engines that implement
:class:`~.engine.SupportsSlots`:

* a request that finds a free slot (and nobody waiting) takes the lowest free slot number
  at once; otherwise it waits in a FIFO queue, after its model was loaded (so the wait falls
  outside ``load_duration``) and before the engine starts the prompt phase;
* when ``max_queue`` requests of that model already wait, the request is rejected with
  :class:`QueueFullError` (the front answers 503 with Ollama's text and body);
* a slot is freed when its response ends, also when the client goes away mid-stream, and a
  waiting request whose client goes away leaves the queue;
* limits are read per request (a live ``ModelProfile`` may change them); a raised
  ``parallel`` lets waiting requests in at the next arrival or release.

Where the front is simpler than Ollama's code, on purpose: Ollama's 503 comes from the
scheduler's pending-request channel, ``OLLAMA_MAX_QUEUE`` deep and shared by all models, which
since v0.11.5 only requests whose model is not loaded (or must reload) pass through; requests
for a loaded model wait for the semaphore without a bound. The front keeps one queue per model
bounded by ``max_queue``, which is what the FAQ documents; ``max_queue=None`` gives the code's
unbounded wait for a loaded model.

Every request that reaches this stage gets a :class:`SlotRecord` in :attr:`SlotPool.log`
(``perf_counter_ns`` times, the clock of the server's ``chunk_log``), and the pool keeps the
largest number of requests each model ran at once (:attr:`SlotPool.max_in_flight`) and had
waiting (:attr:`SlotPool.max_waiting`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from dataclasses import field
from typing import Literal

from ..names import parse_model_name
from .engine import Engine
from .engine import SlotLimits
from .engine import SupportsSlots

__all__ = ["NO_LIMITS", "QueueFullError", "SlotOutcome", "SlotPool", "SlotRecord"]

NO_LIMITS = SlotLimits(parallel=None, max_queue=None)
"""What an engine without :class:`~.engine.SupportsSlots` gets: every request runs at once."""

SlotOutcome = Literal["waiting", "running", "done", "rejected", "abandoned"]


class QueueFullError(Exception):
    """``max_queue`` requests already wait for the slots of ``model``."""

    def __init__(self, model: str, max_queue: int) -> None:
        super().__init__(
            f"{max_queue} request(s) already wait for a slot of {model}; this one is rejected"
        )
        self.model = model
        self.max_queue = max_queue


@dataclass
class SlotRecord:
    """One request's way through its model's slots (times: ``time.perf_counter_ns()``).

    :ivar seq: the request's index in the server's ``requests`` log (``request_seq``).
    :ivar model: the installed model's name (``llama3.2:latest``).
    :ivar queued_ns: when it asked for a slot (its model loaded: ``load_duration`` has ended).
    :ivar waiting_ahead: requests of the model already waiting then.
    :ivar in_flight: requests of the model holding a slot then.
    :ivar slot: the slot that served it, 0 to ``parallel - 1``; ``None`` if it never got one.
    :ivar started_ns: when it got the slot (the engine's prompt phase starts right after);
        ``queued_ns`` itself when a slot was free at once.
    :ivar ended_ns: when it released the slot, was rejected, or gave up waiting.
    :ivar outcome: ``waiting``, ``running``, ``done``, ``rejected`` (503, queue full) or
        ``abandoned`` (the client went away while it waited).
    """

    seq: int
    model: str
    queued_ns: int
    waiting_ahead: int
    in_flight: int
    slot: int | None = None
    started_ns: int | None = None
    ended_ns: int | None = None
    outcome: SlotOutcome = "waiting"

    @property
    def wait_ns(self) -> int | None:
        """Nanoseconds it waited for its slot (``started_ns - queued_ns``); ``None``: no slot."""
        return None if self.started_ns is None else self.started_ns - self.queued_ns


@dataclass(eq=False)
class _Waiter:
    record: SlotRecord
    granted: asyncio.Future[int]


@dataclass
class _Model:
    used: set[int] = field(default_factory=set)
    waiters: deque[_Waiter] = field(default_factory=deque)


def _free_slot(used: set[int], parallel: int | None) -> int | None:
    """The lowest slot number not in use, or ``None`` when ``parallel`` are in use."""
    if parallel is not None and len(used) >= parallel:
        return None
    slot = 0
    while slot in used:
        slot += 1
    return slot


class SlotPool:
    """The slots and wait queues of every model of ``engine``; lives on the server's loop.

    :ivar log: a :class:`SlotRecord` per inference request that asked for a slot, in arrival
        order.
    :ivar max_in_flight: installed name -> the most requests that held a slot at once.
    :ivar max_waiting: installed name -> the most requests that waited for a slot at once.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._models: dict[str, _Model] = {}
        self.log: list[SlotRecord] = []
        self.max_in_flight: dict[str, int] = {}
        self.max_waiting: dict[str, int] = {}

    def limits(self, model: str) -> SlotLimits:
        """The engine's limits for the installed ``model`` (:data:`NO_LIMITS` without any)."""
        if isinstance(self._engine, SupportsSlots):
            return self._engine.slot_limits(model)
        return NO_LIMITS

    # -- queries (any spelling of the model's name) ---------------------------------------------

    def _find(self, model: str) -> _Model | None:
        wanted = parse_model_name(model.strip())
        if wanted is None:
            return None
        for name, state in self._models.items():
            parsed = parse_model_name(name)
            if parsed is not None and parsed.key == wanted.key:
                return state
        return None

    def in_flight(self, model: str) -> int:
        """Requests of ``model`` holding a slot now."""
        state = self._find(model)
        return 0 if state is None else len(state.used)

    def waiting(self, model: str) -> int:
        """Requests of ``model`` waiting for a slot now."""
        state = self._find(model)
        return 0 if state is None else len(state.waiters)

    def reset(self) -> None:
        """Forget the log and the maxima (they restart from what is in flight and waiting)."""
        self.log.clear()
        self.max_in_flight = {name: len(s.used) for name, s in self._models.items()}
        self.max_waiting = {name: len(s.waiters) for name, s in self._models.items()}

    # -- holding a slot -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def hold(self, seq: int, model: str) -> AsyncIterator[SlotRecord]:
        """Hold a slot of ``model`` for request ``seq`` while the block runs.

        Waits (FIFO) while ``parallel`` requests hold one; a cancelled wait leaves the queue.

        :raises QueueFullError: ``max_queue`` requests of ``model`` already wait.
        """
        record = await self._acquire(seq, model)
        try:
            yield record
        finally:
            self._release(record)

    async def _acquire(self, seq: int, model: str) -> SlotRecord:
        limits = self.limits(model)
        state = self._models.setdefault(model, _Model())
        self._grant(model, state, limits)  # a raised ``parallel`` lets waiting requests in
        record = SlotRecord(
            seq=seq,
            model=model,
            queued_ns=time.perf_counter_ns(),
            waiting_ahead=len(state.waiters),
            in_flight=len(state.used),
        )
        self.log.append(record)
        if not state.waiters:
            slot = _free_slot(state.used, limits.parallel)
            if slot is not None:
                self._start(model, state, record, slot, record.queued_ns)
                return record
        if limits.max_queue is not None and len(state.waiters) >= limits.max_queue:
            record.outcome = "rejected"
            record.ended_ns = time.perf_counter_ns()
            raise QueueFullError(model, limits.max_queue)
        waiter = _Waiter(record, asyncio.get_running_loop().create_future())
        state.waiters.append(waiter)
        self.max_waiting[model] = max(self.max_waiting.get(model, 0), len(state.waiters))
        try:
            await waiter.granted
        except asyncio.CancelledError:
            if record.outcome == "running":  # granted just as the client went away
                self._release(record)
            else:
                with contextlib.suppress(ValueError):
                    state.waiters.remove(waiter)
                record.outcome = "abandoned"
                record.ended_ns = time.perf_counter_ns()
            raise
        return record

    def _start(self, model: str, state: _Model, record: SlotRecord, slot: int, now: int) -> None:
        state.used.add(slot)
        record.slot = slot
        record.started_ns = now
        record.outcome = "running"
        self.max_in_flight[model] = max(self.max_in_flight.get(model, 0), len(state.used))

    def _grant(self, model: str, state: _Model, limits: SlotLimits) -> None:
        """Hand free slots to the first waiting requests."""
        while state.waiters:
            slot = _free_slot(state.used, limits.parallel)
            if slot is None:
                return
            waiter = state.waiters.popleft()
            if waiter.granted.done():  # cancelled: its task is leaving
                continue
            self._start(model, state, waiter.record, slot, time.perf_counter_ns())
            waiter.granted.set_result(slot)

    def _release(self, record: SlotRecord) -> None:
        if record.outcome != "running" or record.slot is None:
            return
        state = self._models[record.model]
        state.used.discard(record.slot)
        record.outcome = "done"
        record.ended_ns = time.perf_counter_ns()
        self._grant(record.model, state, self.limits(record.model))
