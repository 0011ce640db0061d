"""Ollama's vocabulary on the OpenAI chat-completions wire format, and back.

:func:`request_fields` turns Ollama-style ``options``, ``think`` and ``format`` into OpenAI
request fields; :func:`final_record` turns a completion's ``usage`` and llama.cpp's ``timings``
into the final record in Ollama's key names that :class:`~pytest_ollama_bench.measure.Recorder`
reads; :func:`message_pieces` reads the text of a ``delta`` or ``message``. Pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["OPTION_FIELDS", "as_int", "final_record", "message_pieces", "request_fields"]

#: Ollama option -> request body field. ``top_k``, ``min_p`` and ``repeat_penalty`` are not in
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
}


def request_fields(
    options: Mapping[str, Any] | None = None,
    *,
    think: bool | str | None = None,
    format: str | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The OpenAI request fields for Ollama-style ``options``, ``think`` and ``format``.

    ``num_predict`` becomes ``max_tokens`` (a negative value, Ollama's "no limit", sends
    nothing); the other options map as :data:`OPTION_FIELDS` says, unknown ones are dropped.
    ``think=False`` sends ``reasoning_effort: "none"``, ``True`` ``"medium"`` and a string that
    effort (``"low"``, ``"high"``, ...). ``format="json"`` asks for a JSON object, a mapping is
    sent as a JSON schema named ``response``.

    :raises ValueError: for a ``format`` string other than ``"json"``.
    """
    fields: dict[str, Any] = {}
    for key, value in (options or {}).items():
        name = OPTION_FIELDS.get(key)
        if name is None or value is None:
            continue
        if key == "num_predict" and isinstance(value, (int, float)) and value < 0:
            continue
        fields[name] = list(value) if isinstance(value, (list, tuple)) else value
    if think is not None:
        if think is False:
            fields["reasoning_effort"] = "none"
        elif think is True:
            fields["reasoning_effort"] = "medium"
        else:
            fields["reasoning_effort"] = think
    if format is not None:
        if isinstance(format, Mapping):
            fields["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": dict(format)},
            }
        elif format == "json":
            fields["response_format"] = {"type": "json_object"}
        else:
            raise ValueError(f"format must be 'json' or a JSON schema (a dict), got {format!r}")
    return fields


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
    (Ollama also counts cached prompt tokens). Durations come only from ``timings``
    (``predicted_ms``, ``prompt_ms`` -> ns) and are absent without it: never guessed.

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
    for key, value in (
        ("eval_count", eval_count),
        ("prompt_eval_count", prompt_count),
        ("eval_duration", _ms_to_ns(timings.get("predicted_ms"), "timings.predicted_ms")),
        ("prompt_eval_duration", _ms_to_ns(timings.get("prompt_ms"), "timings.prompt_ms")),
    ):
        if value is not None:
            final[key] = value
    return final


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def message_pieces(message: Mapping[str, Any]) -> tuple[str, str, bool]:
    """(content, thinking, has tool calls) of a ``delta`` or ``message`` object."""
    thinking = _text(message.get("reasoning")) or _text(message.get("reasoning_content"))
    return _text(message.get("content")), thinking, bool(message.get("tool_calls"))
