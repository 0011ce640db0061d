"""``/v1/chat/completions`` decoded through Ollama's OpenAI middleware into a chat request."""

from __future__ import annotations

from typing import Any

from ._go import GoDecodeError
from ._go import go_quote
from ._go import json_type
from ._go import unmarshal
from ._requests import InferenceParams
from ._requests import RequestError
from ._structs import Field
from ._structs import GoTypeError
from ._structs import anything
from ._structs import array_of
from ._structs import boolean
from ._structs import decode_struct
from ._structs import integer
from ._structs import number
from ._structs import object_of
from ._structs import string
from ._structs import type_error

__all__ = ["decode_openai_chat"]


_OPENAI_MESSAGE_FIELDS = (
    Field("role", string),
    Field("content", anything),
    Field("reasoning", string),
    Field("tool_calls", array_of("[]openai.ToolCall")),
    Field("name", string),
    Field("tool_call_id", string),
)


def _openai_messages(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise type_error(value, where, "[]openai.Message")
    out: list[dict[str, Any]] = []
    for item in value:
        if item is None:
            out.append({})
            continue
        out.append(decode_struct(item, "Message", _OPENAI_MESSAGE_FIELDS, where="messages"))
    return out


_OPENAI_FIELDS = (
    Field("model", string),
    Field("messages", _openai_messages),
    Field("stream", boolean),
    Field("stream_options", object_of("openai.StreamOptions")),
    Field("max_tokens", integer),
    Field("seed", integer),
    Field("stop", anything),
    Field("temperature", number),
    Field("frequency_penalty", number),
    Field("presence_penalty", number),
    Field("top_p", number),
    Field("response_format", object_of("openai.ResponseFormat")),
    Field("tools", array_of("[]api.Tool")),
    Field("reasoning", object_of("openai.Reasoning")),
    Field("reasoning_effort", string),
    Field("logprobs", boolean),
    Field("top_logprobs", integer),
    # not Ollama's (which ignores it): llama.cpp's and vLLM's, passed on to the engine, which
    # honours it as the native option (the llama.cpp engine; a simulated model by its profile)
    Field("ignore_eos", boolean),
)

_EFFORT_TO_THINK: dict[str, bool | str] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "max",
    "xhigh": "max",
    "ultra": "max",
}


def _go_type_name(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    return "map[string]interface {}"


def _convert_openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``openai.FromChatRequest``'s message conversion (images/audio are accepted, not kept)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role = str(message.get("role", "")).lower()
        content = message.get("content")
        reasoning = message.get("reasoning", "")
        if isinstance(content, str):
            out.append({"role": role, "content": content, "thinking": reasoning})
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    raise RequestError(400, "invalid message format")
                kind = part.get("type")
                if kind == "text":
                    text = part.get("text")
                    if not isinstance(text, str):
                        raise RequestError(400, "invalid message format")
                    out.append({"role": role, "content": text})
                elif kind in ("image_url", "input_audio"):
                    out.append({"role": role, "content": ""})
                else:
                    raise RequestError(400, "invalid message format")
        elif message.get("tool_calls") is None:
            raise RequestError(400, f"invalid message content type: {_go_type_name(content)}")
        else:
            out.append({"role": role, "content": "", "thinking": reasoning})
    return out


def decode_openai_chat(body: bytes) -> InferenceParams:
    """``/v1/chat/completions`` through Ollama's ``ChatMiddleware`` into a chat request.

    Errors are the middleware's: the decoder text (``EOF`` for an empty body), then
    ``[] is too short - 'messages'``, then conversion errors - all HTTP 400.
    """
    try:
        value = unmarshal(body)
    except EOFError:
        raise RequestError(400, "EOF") from None
    except GoDecodeError as exc:
        raise RequestError(400, str(exc)) from None
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise RequestError(
            400,
            f"json: cannot unmarshal {json_type(value)} into Go value of type "
            "openai.ChatCompletionRequest",
        )
    try:
        data = decode_struct(value, "ChatCompletionRequest", _OPENAI_FIELDS)
    except GoTypeError as exc:
        raise RequestError(400, str(exc)) from None
    messages = data.get("messages", [])
    if not messages:
        raise RequestError(400, "[] is too short - 'messages'")
    converted = _convert_openai_messages(messages)

    options: dict[str, Any] = {}
    stop = data.get("stop")
    if isinstance(stop, str):
        options["stop"] = [stop]
    elif isinstance(stop, list):
        options["stop"] = [item for item in stop if isinstance(item, str)]
    if "max_tokens" in data:
        options["num_predict"] = data["max_tokens"]
    options["temperature"] = data.get("temperature", 1.0)
    if "seed" in data:
        options["seed"] = data["seed"]
    for key in ("frequency_penalty", "presence_penalty", "ignore_eos"):
        if key in data:
            options[key] = data[key]
    options["top_p"] = data.get("top_p", 1.0)

    reasoning = data.get("reasoning")
    effort = reasoning.get("effort", "") if isinstance(reasoning, dict) else None
    if effort is None:
        effort = data.get("reasoning_effort", "")
    think: bool | str | None = None
    if effort:
        if not isinstance(effort, str) or effort not in _EFFORT_TO_THINK:
            raise RequestError(
                400,
                f"invalid reasoning value: {go_quote(str(effort))} "
                '(must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")',
            )
        think = _EFFORT_TO_THINK[effort]

    stream_options = data.get("stream_options") or {}
    return InferenceParams(
        endpoint="chat",
        model=data.get("model", ""),
        messages=converted,
        stream=data.get("stream", False),
        options=options,
        think=think,
        tools=data.get("tools", []),
        top_logprobs=data.get("top_logprobs", 0),
        include_usage=bool(stream_options.get("include_usage", False)),
    )
