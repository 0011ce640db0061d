"""Ollama's vocabulary on the OpenAI chat-completions wire format, and back.

:func:`request_fields` turns Ollama-style ``options`` and request fields (``think``,
``format``, ``tools``, ``logprobs``, ...) into OpenAI request fields; :func:`openai_message`
turns a message with Ollama's ``images`` into content parts; :func:`final_record` turns a
completion's ``usage`` and llama.cpp's ``timings`` into the final record in Ollama's key names
that :class:`~pytest_ollama_bench.measure.Recorder` reads; :func:`message_pieces` reads the
text and tool calls of a ``delta`` or ``message``, and :class:`ToolCallAssembler` joins the
pieces of streamed tool calls. Pure.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from .measure import Recorder

__all__ = [
    "NO_COUNTERPART",
    "OPTION_FIELDS",
    "StreamState",
    "ToolCallAssembler",
    "as_int",
    "final_record",
    "message_pieces",
    "openai_message",
    "request_fields",
]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

#: Ollama option -> request body field. ``top_k``, ``min_p``, ``repeat_penalty`` and
#: ``ignore_eos`` (an option of llama.cpp's, which Ollama ignores; ``output_tokens=``) are not in
#: the OpenAI API but llama.cpp and vLLM accept them as extra top-level fields (Ollama's ``/v1``
#: ignores them). Other options (``num_ctx``, ``num_gpu``, ``mirostat``, ...) have no OpenAI
#: counterpart and are not sent.
OPTION_FIELDS: Mapping[str, str] = {
    "num_predict": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "stop": "stop",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "top_k": "top_k",
    "min_p": "min_p",
    "repeat_penalty": "repeat_penalty",
    "ignore_eos": "ignore_eos",
}


#: Ollama request fields with no OpenAI counterpart: a call that sets one is rejected on the
#: OpenAI path (``raw`` only when true; ``keep_alive``, a residency hint, is dropped instead).
NO_COUNTERPART: tuple[str, ...] = ("suffix", "template", "context", "raw", "truncate", "shift")
_DROPPED = frozenset({"keep_alive"})


def request_fields(
    options: Mapping[str, Any] | None = None,
    *,
    think: bool | str | None = None,
    format: str | Mapping[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The OpenAI request fields for Ollama-style ``options`` and request fields.

    ``num_predict`` becomes ``max_tokens`` (a negative value, Ollama's "no limit", sends
    nothing); the other options map as :data:`OPTION_FIELDS` says, unknown ones are dropped.
    ``think=False`` sends ``reasoning_effort: "none"``, ``True`` ``"medium"`` and a string that
    effort (``"low"``, ``"high"``, ...). ``format="json"`` asks for a JSON object, a mapping is
    sent as a JSON schema named ``response``. ``tools`` (Ollama's are OpenAI's function
    tools), ``logprobs`` and ``top_logprobs`` go as they are; ``keep_alive`` has no
    counterpart and is dropped (it only says how long the server keeps the model).

    :raises ValueError: for a ``format`` string other than ``"json"``, or a field of
        :data:`NO_COUNTERPART` (the chat template, cache and context handling cannot be asked
        for there).
    """
    __tracebackhide__ = True  # pytest shows the error at the caller's line
    out: dict[str, Any] = {}
    for key, value in (options or {}).items():
        name = OPTION_FIELDS.get(key)
        if name is None or value is None:
            continue
        if key == "num_predict" and isinstance(value, (int, float)) and value < 0:
            continue
        out[name] = list(value) if isinstance(value, (list, tuple)) else value
    if think is not None:
        if think is False:
            out["reasoning_effort"] = "none"
        elif think is True:
            out["reasoning_effort"] = "medium"
        else:
            out["reasoning_effort"] = think
    if format is not None:
        if isinstance(format, Mapping):
            out["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": dict(format)},
            }
        elif format == "json":
            out["response_format"] = {"type": "json_object"}
        else:
            raise ValueError(f"format must be 'json' or a JSON schema (a dict), got {format!r}")
    for key, value in fields.items():
        if value is None or key in _DROPPED or (key == "raw" and not value):
            continue
        if key in NO_COUNTERPART:
            raise ValueError(
                f"{key}={value!r} has no counterpart on an OpenAI-compatible server; leave it "
                "out, or benchmark Ollama's native API (--ollama-api native)"
            )
        if key in ("tools", "logprobs", "top_logprobs"):
            out[key] = list(value) if key == "tools" else value
        elif key != "images":  # images travel inside the user message (openai_message)
            raise ValueError(f"{key!r} is not an Ollama request field")
    return out


def _image_url(data: str) -> dict[str, Any]:
    """A base64 image (Ollama's form) as an OpenAI ``image_url`` part, its type sniffed."""
    kind = "png" if data.startswith("iVBOR") else "gif" if data.startswith("R0lG") else "jpeg"
    if data.startswith("UklGR"):
        kind = "webp"
    return {"type": "image_url", "image_url": {"url": f"data:image/{kind};base64,{data}"}}


def openai_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """``message`` for an OpenAI server: Ollama's ``images`` (base64) become content parts."""
    out = dict(message)
    images = out.pop("images", None)
    if images:
        text = out.get("content")
        parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        parts.extend(_image_url(str(image)) for image in images)
        out["content"] = parts
    return out


# --------------------------------------------------------------------------- final record


def as_int(value: Any, name: str = "a count") -> int | None:
    """``value`` as an int when it is a number (not a bool), else None.

    :raises ValueError: a number that is not finite.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value):
        raise ValueError(f"gives {name} {value!r}, not a finite number")
    return int(value)


def _ms_to_ns(value: Any, name: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    ns = value * 1e6
    if not math.isfinite(ns) or abs(ns) >= 2**63:
        raise ValueError(f"gives {name} {value!r}, not a duration in milliseconds")
    return round(ns)


def final_record(
    finish_reason: str | None,
    usage: Mapping[str, Any] | None,
    timings: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The final record in Ollama's key names, for :meth:`Recorder.done`.

    ``eval_count`` is ``usage.completion_tokens``, else llama.cpp's ``timings.predicted_n``;
    ``prompt_eval_count`` is ``usage.prompt_tokens``, else ``timings.prompt_n + cache_n``
    (Ollama also counts cached prompt tokens); ``prompt_eval_cached_count`` is
    ``usage.prompt_tokens_details.cached_tokens``, else ``timings.cache_n``. Durations come
    only from ``timings`` (``predicted_ms``, ``prompt_ms`` -> ns) and are absent without it:
    never guessed. llama.cpp's ``prompt_ms`` covers its ``prompt_n`` processed tokens, which
    are ``prompt_tokens - cached_tokens``: the prefill rate the recorder derives is llama.cpp's
    own ``prompt_per_second``.

    :raises ValueError: a count or duration that is not a finite number (``1e303`` ms).
    """
    final: dict[str, Any] = {}
    if finish_reason:
        final["done_reason"] = finish_reason
    usage = usage or {}
    timings = timings or {}
    eval_count = as_int(usage.get("completion_tokens"), "usage.completion_tokens")
    if eval_count is None:
        eval_count = as_int(timings.get("predicted_n"), "timings.predicted_n")
    prompt_count = as_int(usage.get("prompt_tokens"), "usage.prompt_tokens")
    if prompt_count is None:
        prompt_n = as_int(timings.get("prompt_n"), "timings.prompt_n")
        if prompt_n is not None:
            prompt_count = prompt_n + (as_int(timings.get("cache_n"), "timings.cache_n") or 0)
    details = usage.get("prompt_tokens_details")
    cached = None
    if isinstance(details, Mapping):
        cached = as_int(details.get("cached_tokens"), "usage.prompt_tokens_details.cached_tokens")
    if cached is None:
        cached = as_int(timings.get("cache_n"), "timings.cache_n")
    for key, value in (
        ("eval_count", eval_count),
        ("prompt_eval_count", prompt_count),
        ("prompt_eval_cached_count", cached),
        ("eval_duration", _ms_to_ns(timings.get("predicted_ms"), "timings.predicted_ms")),
        ("prompt_eval_duration", _ms_to_ns(timings.get("prompt_ms"), "timings.prompt_ms")),
    ):
        if value is not None:
            final[key] = value
    return final


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def message_pieces(message: Mapping[str, Any]) -> tuple[str, str, list[Any]]:
    """(content, thinking, tool calls as sent) of a ``delta`` or ``message`` object."""
    thinking = _text(message.get("reasoning")) or _text(message.get("reasoning_content"))
    calls = message.get("tool_calls")
    return _text(message.get("content")), thinking, calls if isinstance(calls, list) else []


class ToolCallAssembler:
    """Joins the tool calls of an OpenAI answer, streamed in pieces, into Ollama's shape.

    A stream sends each call's ``id`` and ``function.name`` once and its ``arguments`` as
    pieces of a JSON text, keyed by ``index``; :meth:`calls` returns
    ``{"id", "function": {"index", "name", "arguments"}}`` dicts with the arguments parsed
    (kept as text when they are not JSON), as Ollama's native API sends them.
    """

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}

    def add(self, pieces: Sequence[Any]) -> None:
        """One delta's ``tool_calls`` (or a whole message's)."""
        for position, piece in enumerate(pieces):
            if not isinstance(piece, Mapping):
                continue
            index = piece.get("index")
            key = index if isinstance(index, int) else len(self._calls) + position
            call = self._calls.setdefault(key, {"id": None, "name": "", "arguments": ""})
            if isinstance(piece.get("id"), str):
                call["id"] = piece["id"]
            function = piece.get("function")
            if isinstance(function, Mapping):
                if isinstance(function.get("name"), str):
                    call["name"] += function["name"]
                arguments = function.get("arguments")
                if isinstance(arguments, str):
                    call["arguments"] += arguments
                elif arguments is not None:
                    call["arguments"] = arguments

    def calls(self) -> list[dict[str, Any]]:
        """The calls so far, in index order, in Ollama's shape."""
        out: list[dict[str, Any]] = []
        for index in sorted(self._calls):
            call = self._calls[index]
            arguments = call["arguments"]
            if isinstance(arguments, str):
                with contextlib.suppress(ValueError):
                    arguments = json.loads(arguments) if arguments.strip() else {}
            entry: dict[str, Any] = {
                "function": {"index": index, "name": call["name"], "arguments": arguments}
            }
            if call["id"] is not None:
                entry = {"id": call["id"], **entry}
            out.append(entry)
        return out


class StreamState:
    """What one chat-completions stream has said so far besides its text, and how each
    ``chat.completion.chunk`` object reaches the recorder."""

    __slots__ = ("events", "finish_reason", "last", "timings", "tools", "usage")

    def __init__(self) -> None:
        self.events = 0
        self.last = b""  # the data of the last event that carried usage or timings
        self.finish_reason: str | None = None
        self.usage: Mapping[str, Any] | None = None
        self.timings: Mapping[str, Any] | None = None
        self.tools: ToolCallAssembler | None = None

    def record(self, obj: Mapping[str, Any], t: int, rec: Recorder) -> None:
        """One chunk object, received at ``t``: its delta to ``rec``, its usage, timings,
        finish reason and tool-call pieces kept."""
        content = thinking = ""
        calls: list[Any] = []
        choices = obj.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            choice = choices[0]
            delta = choice.get("delta")
            if isinstance(delta, dict):
                content, thinking, calls = message_pieces(delta)
                if calls:
                    if self.tools is None:
                        self.tools = ToolCallAssembler()
                    self.tools.add(calls)
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                self.finish_reason = reason
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        timings = obj.get("timings")
        if isinstance(timings, dict):
            self.timings = timings
        rec.chunk(t, content, thinking, calls)

    def final(self, rec: Recorder) -> dict[str, Any]:
        """The final record for :meth:`Recorder.done`; the joined tool calls go to ``rec``."""
        if self.tools is not None:
            rec.replace_tool_calls(self.tools.calls())
        return final_record(self.finish_reason, self.usage, self.timings)
