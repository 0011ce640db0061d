"""One benchmark call: its validated plan, and its warmup and measured rounds against a client.

:func:`plan_call` checks everything a call is given before any request goes out (request
fields, the policies, the check); :func:`run_call` runs the rounds with the policies applied
and returns the :class:`~.models.CallRecord` with whatever error stopped it. No pytest here.

Policies (the marker's ``start=``/``cache=``, else ``--ollama-start``/``--ollama-cache``):

* ``start="warm"``: the warmup rounds run first (kept, marked, left out of the statistics);
  ``start="cold"``: no warmup; before every measured round the model is unloaded
  (``keep_alive: 0``) and the client waits until ``/api/ps`` no longer lists it, so each
  round pays the whole load, in its ``load_ms``.
* ``cache="keep"``: the prompt as given (the server may serve a repeated prefix from its
  cache: see ``prompt_cached_count``); ``cache="bust"``: each round's prompt starts with a
  unique prefix ``[<12 hex digits>] `` (on the first message, or on ``system``/``prompt`` of a
  generate call), so its prefill is measured in full (only the chat template's tokens before
  it can come from the cache). A sized prompt (``ollama_bench.prompt(tokens=N)``) is not
  prefixed, which would change its count: each round sends another variant of it instead, the
  same count with another word order and first word.

``output_tokens=N`` asks for answers of N tokens (:func:`~.workload.output_options`: the cap
``num_predict``, and ``ignore_eos`` where the server honours it); each round records whether
its answer reached N (``output_reached``; its ``done_reason`` says why not).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from typing import cast

from .api_fields import check_fields
from .checks import Check
from .checks import check_name
from .checks import run_check
from .errors import ServerError
from .models import CallRecord
from .models import Endpoint
from .models import Measurement
from .names import normalize_model_name
from .openai_fields import request_fields
from .settings import Api
from .settings import CachePolicy
from .settings import StartPolicy
from .stats import stats_over
from .synthetic import SizedPrompt
from .workload import with_output_tokens

if TYPE_CHECKING:
    from .runtime import BenchClient

__all__ = [
    "CallPlan",
    "Prompt",
    "RoundDone",
    "bust_prefix",
    "plan_call",
    "run_call",
    "to_messages",
]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

Prompt = str | Sequence[Mapping[str, Any]]
#: Called after each round with the round's measurement, its number among the call's warmup
#: or measured rounds (from 1), and how many of those the call runs (progress display).
RoundDone = Callable[[Measurement, int, int], None]
#: The keywords a benchmark call takes itself, before the request fields.
CALL_KEYWORDS = ("system", "options", "rounds", "warmup", "model", "check", "output_tokens")


def to_messages(prompt: Prompt, system: str | None, call: str) -> list[dict[str, Any]]:
    """A chat's messages: a prompt string as one user message, ``system`` first if given.

    :raises TypeError: ``prompt`` is neither a string nor a list of message dicts.
    """
    __tracebackhide__ = True  # pytest shows the error at the caller's line
    if isinstance(prompt, str):
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, Sequence) and all(isinstance(m, Mapping) for m in prompt):
        messages = [dict(cast(Mapping[str, Any], m)) for m in prompt]
    else:
        raise TypeError(
            f"{call} takes a prompt string or a list of message dicts such as "
            f"[{{'role': 'user', 'content': '...'}}], got {prompt!r}"
        )
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return messages


def bust_prefix() -> str:
    """A prompt prefix no earlier prompt had: ``[0123456789ab] ``."""
    return f"[{uuid.uuid4().hex[:12]}] "


@dataclass(frozen=True)
class CallPlan:
    """A validated benchmark call: what to send and how many rounds, under which policies."""

    nodeid: str
    model: str
    endpoint: Endpoint
    api: Api
    prompt: str | list[dict[str, Any]]
    system: str | None
    options: dict[str, Any]
    fields: dict[str, Any]
    rounds: int
    warmup: int
    start: StartPolicy = "warm"
    cache: CachePolicy = "keep"
    check: Check | None = None
    parallel: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    output_tokens: int | None = None
    sized: SizedPrompt | None = None

    def workload(self) -> dict[str, Any] | None:
        """What the call asked for, for the record: the sized prompt's making (asked tokens,
        seed, words, calibration) and the output tokens."""
        if self.sized is None and self.output_tokens is None:
            return None
        described: dict[str, Any] = {"input_tokens": None, "seed": None}
        if self.sized is not None:
            described.update(self.sized.describe())
        described["output_tokens"] = self.output_tokens
        return described

    def record(self, rounds: list[Measurement], error: BaseException | None) -> CallRecord:
        """The call's record: its request, policies and rounds, statistics computed once."""
        return CallRecord(
            nodeid=self.nodeid,
            model=self.model,
            endpoint=self.endpoint,
            api=self.api,
            prompt=self.prompt,
            system=self.system,
            options=self.options,
            parallel=self.parallel,
            fields=self.fields,
            start=self.start,
            cache=self.cache,
            check=None if self.check is None else check_name(self.check),
            workload=self.workload(),
            round_count=self.rounds,
            warmup_count=self.warmup,
            rounds=rounds,
            stats=stats_over(rounds),
            error=None if error is None else str(error),
        )


def plan_call(
    *,
    nodeid: str,
    model: str,
    endpoint: Endpoint,
    api: Api,
    prompt: Prompt,
    system: str | None,
    options: Mapping[str, Any],
    fields: Mapping[str, Any],
    rounds: int,
    warmup: int,
    start: StartPolicy,
    cache: CachePolicy,
    check: Check | None,
    parallel: bool = False,
    own: Sequence[str] = CALL_KEYWORDS,
    output_tokens: int | None = None,
) -> CallPlan:
    """Check a call's arguments and return its plan; nothing is sent.

    ``output_tokens`` adds :func:`~.workload.output_options` to ``options`` (an explicit
    ``ignore_eos`` there wins). A :class:`~.synthetic.SizedPrompt` (as the prompt, or the
    content of one message) must have been sized for this model, endpoint and system message.

    :raises TypeError: a keyword that is no request field of ``endpoint`` (the message lists
        the valid ones), a prompt of the wrong type, or a ``check`` that is not callable.
    :raises ValueError: rounds < 1 or warmup < 0; on the OpenAI API, a request field with no
        counterpart there or ``start="cold"``; ``output_tokens`` < 1 or unlike the options'
        ``num_predict``; a sized prompt sized for another model or request shape.
    """
    __tracebackhide__ = True  # pytest shows the error at the caller's line
    call = f"ollama_bench.{endpoint}()"
    sent = check_fields(endpoint, fields, call=call, own=own)
    if rounds < 1 or warmup < 0:
        raise ValueError(f"rounds must be >= 1 and warmup >= 0, got {rounds}, {warmup}")
    if check is not None and not callable(check):
        raise TypeError(f"{call}: check= must be a function of the answer text, got {check!r}")
    if api == "openai":
        request_fields(None, **sent)  # ValueError for a field with no OpenAI counterpart
        if start == "cold":
            raise ValueError(
                f"{call}: start='cold' unloads the model before each round, which only "
                "Ollama's native API can do; use --ollama-api native or start='warm'"
            )
    messages: list[dict[str, Any]] = []
    if endpoint == "chat":
        messages = to_messages(prompt, system, call)
    elif not isinstance(prompt, str):
        raise TypeError(f"ollama_bench.generate() takes a prompt string, got {prompt!r}")
    sized = _sized_prompt(call, prompt, messages, model, endpoint, system)
    merged = with_output_tokens(call, options, output_tokens)
    return CallPlan(
        nodeid=nodeid,
        model=model,
        endpoint=endpoint,
        api=api,
        prompt=str(prompt) if isinstance(prompt, str) else _plain(messages),
        system=system,
        options=merged,
        fields=sent,
        rounds=rounds,
        warmup=0 if start == "cold" else warmup,
        start=start,
        cache=cache,
        check=check,
        parallel=parallel,
        messages=messages,
        output_tokens=output_tokens,
        sized=sized,
    )


def _plain(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with a sized prompt's content as a plain string (for the record)."""
    return [
        {**m, "content": str(m["content"])} if isinstance(m.get("content"), SizedPrompt) else m
        for m in messages
    ]


def _sized_prompt(
    call: str,
    prompt: Prompt,
    messages: list[dict[str, Any]],
    model: str,
    endpoint: Endpoint,
    system: str | None,
) -> SizedPrompt | None:
    """The call's sized prompt, if any, checked to be sized for this call's request."""
    __tracebackhide__ = True  # pytest shows the error at the caller's line
    found = prompt if isinstance(prompt, SizedPrompt) else None
    for message in messages:
        if isinstance(message.get("content"), SizedPrompt):
            found = message["content"]
    if found is None:
        return None
    made = found.calibration
    if endpoint == "chat" and system is None and messages[0].get("role") == "system":
        system = str(messages[0].get("content"))
    others = [m for m in messages if m.get("role") != "system" and m.get("content") is not found]
    if (
        made.endpoint != endpoint
        or made.system != system
        or others
        or (normalize_model_name(made.model) != normalize_model_name(model))
    ):
        raise ValueError(
            f"{call}: the prompt of {found.tokens} tokens was sized for a {made.endpoint} "
            f"request to {made.model!r}{' with a system message' if made.system else ''} as its "
            f"only user message; this call sends {endpoint} to {model!r}"
            f"{' with a system message' if system else ''}{' and other messages' if others else ''}"
            ": pass the same model=, endpoint= and system= to ollama_bench.prompt()"
        )
    return found


async def _one_round(
    client: BenchClient, plan: CallPlan, is_warmup: bool, number: int
) -> Measurement:
    options = plan.options or None
    sized = plan.sized
    if sized is not None:  # round ``number``'s text: the prompt itself, or a variant (bust)
        text = str(sized.variant(number) if plan.cache == "bust" else sized)
        return await _send(client, plan, is_warmup, options, text)
    prefix = bust_prefix() if plan.cache == "bust" else ""
    if plan.endpoint == "chat":
        messages = plan.messages
        if prefix:
            first = dict(messages[0])
            first["content"] = prefix + str(first.get("content") or "")
            messages = [first, *messages[1:]]
        return await client.chat(
            plan.model, messages, options=options, warmup=is_warmup, **plan.fields
        )
    prompt = str(plan.prompt)
    system = plan.system
    if prefix:  # the system text comes first in the rendered prompt
        if system:
            system = prefix + system
        else:
            prompt = prefix + prompt
    return await client.generate(
        plan.model, prompt, system=system, options=options, warmup=is_warmup, **plan.fields
    )


async def _send(
    client: BenchClient,
    plan: CallPlan,
    is_warmup: bool,
    options: dict[str, Any] | None,
    text: str,
) -> Measurement:
    """The call's request with ``text`` in place of its sized prompt."""
    if plan.endpoint == "chat":
        messages = [
            {**m, "content": text} if isinstance(m.get("content"), SizedPrompt) else m
            for m in plan.messages
        ]
        return await client.chat(
            plan.model, messages, options=options, warmup=is_warmup, **plan.fields
        )
    return await client.generate(
        plan.model, text, system=plan.system, options=options, warmup=is_warmup, **plan.fields
    )


def _asked(plan: CallPlan, measured: Measurement) -> Measurement:
    """``measured`` with what the call asked for: input and output tokens, and whether the
    answer reached ``output_tokens``."""
    update: dict[str, Any] = {}
    if plan.sized is not None:
        update["input_tokens_asked"] = plan.sized.tokens
    if plan.output_tokens is not None:
        update["output_tokens_asked"] = plan.output_tokens
        if measured.eval_count is not None:
            update["output_reached"] = measured.eval_count >= plan.output_tokens
    return measured.model_copy(update=update) if update else measured


async def run_call(
    plan: CallPlan, client: BenchClient, progress: RoundDone | None = None
) -> tuple[CallRecord, ServerError | None]:
    """Run ``plan``'s warmup and measured rounds on ``client``.

    Each round's answer goes through the plan's ``check`` (kept on the round as ``pass_rate``
    and ``check_error``); ``progress`` is told of each completed round. A
    :class:`~.errors.ServerError` stops the call; the rounds done so far are kept in the
    record, and the error is returned with it.
    """
    done: list[Measurement] = []
    error: ServerError | None = None
    try:
        for i in range(plan.warmup + plan.rounds):
            is_warmup = i < plan.warmup
            if plan.start == "cold" and not is_warmup:
                await client.unload(plan.model)
            measured = _asked(plan, await _one_round(client, plan, is_warmup, i + 1))
            if plan.check is not None:
                outcome = run_check(plan.check, measured.text)
                measured = measured.model_copy(
                    update={
                        "pass_rate": 1.0 if outcome.passed else 0.0,
                        "check_error": outcome.error,
                    }
                )
            done.append(measured)
            if progress is not None:
                number, of = (
                    (i + 1, plan.warmup) if is_warmup else (i + 1 - plan.warmup, plan.rounds)
                )
                progress(measured, number, of)
    except ServerError as exc:
        error = exc
    return plan.record(done, error), error
