"""Request bodies decoded and validated the way Ollama's Go server does it.

Each decoder returns plain data or raises :class:`RequestError` with the status and the exact
(or, for exotic JSON type errors, Go-like) message Ollama would send. This module decodes the
native API (``/api/chat``, ``/api/generate``, ``/api/show``) and checks ``options``; the
OpenAI-compatible ``/v1/chat/completions`` is in ``_openai_requests``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal

from ._go import MAX_DURATION_NS
from ._go import GoDecodeError
from ._go import go_quote
from ._go import json_type
from ._go import parse_duration
from ._go import unmarshal
from ._structs import Check
from ._structs import Field
from ._structs import GoTypeError
from ._structs import anything
from ._structs import array_of
from ._structs import boolean
from ._structs import decode_struct
from ._structs import integer
from ._structs import object_of
from ._structs import string
from ._structs import type_error

__all__ = [
    "InferenceParams",
    "RequestError",
    "decode_chat",
    "decode_generate",
    "decode_show",
    "validate_options",
]

_THINK_LEVELS = ("high", "medium", "low", "max")


class RequestError(Exception):
    """An HTTP error response: ``status`` and the ``error`` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class InferenceParams:
    """A decoded ``/api/chat``, ``/api/generate`` or ``/v1/chat/completions`` request."""

    endpoint: Literal["chat", "generate"]
    model: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    prompt: str = ""
    suffix: str = ""
    system: str = ""
    template: str = ""
    context: list[int] | None = None
    raw: bool = False
    stream: bool = True
    keep_alive_ns: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    think: bool | str | None = None
    tools: list[Any] = field(default_factory=list)
    top_logprobs: int = 0
    include_usage: bool = False  # /v1 stream_options.include_usage


def _duration(value: Any, where: str) -> int:
    """``api.Duration.UnmarshalJSON``: seconds as a number, or a Go duration string."""
    if isinstance(value, bool):
        raise RequestError(400, "Unsupported type: 'bool'")
    if isinstance(value, (int, float)):
        return MAX_DURATION_NS if value < 0 else int(value * 1_000_000_000)
    if isinstance(value, str):
        try:
            ns = parse_duration(value)
        except ValueError as exc:
            raise RequestError(400, str(exc)) from None
        return MAX_DURATION_NS if ns < 0 else ns
    gotype = "[]interface {}" if isinstance(value, list) else "map[string]interface {}"
    raise RequestError(400, f"Unsupported type: '{gotype}'")


def _think(value: Any, where: str) -> bool | str:
    """``api.ThinkValue.UnmarshalJSON``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value not in _THINK_LEVELS:
            raise RequestError(
                400,
                f"invalid think value: {go_quote(value)} "
                '(must be "high", "medium", "low", "max", true, or false)',
            )
        return value
    raise RequestError(
        400, 'think must be a boolean or string ("high", "medium", "low", "max", true, or false)'
    )


def _messages(struct: str) -> Check:
    """``[]api.Message``; errors inside ``Message.UnmarshalJSON`` carry the outer context."""
    message_fields = (
        Field("role", string),
        Field("content", string),
        Field("thinking", string),
        Field("images", array_of("[]api.ImageData")),
        Field("tool_calls", array_of("[]api.ToolCall")),
        Field("tool_name", string),
        Field("tool_call_id", string),
    )

    def check(value: Any, where: str) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise type_error(value, where, "[]api.Message")
        out: list[dict[str, Any]] = []
        for item in value:
            if item is None:
                out.append({"role": "", "content": ""})
                continue
            if not isinstance(item, dict):
                raise type_error(item, where, "api.Alias")
            try:
                message = decode_struct(item, "Alias", message_fields)
            except GoTypeError as exc:
                text = str(exc)
                inner = text.split(" of type ", 1)[1]
                jtype = text.split("cannot unmarshal ", 1)[1].split(" into ", 1)[0]
                raise GoTypeError(
                    f"json: cannot unmarshal {jtype} into Go struct field {where} of type {inner}"
                ) from None
            message["role"] = str(message.get("role", "")).lower()
            message.setdefault("content", "")
            out.append(message)
        return out

    return check


def _parse_body(body: bytes, struct: str) -> dict[str, Any]:
    try:
        value = unmarshal(body)
    except EOFError:
        raise RequestError(400, "missing request body") from None
    except GoDecodeError as exc:
        raise RequestError(400, str(exc)) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(
            400, f"json: cannot unmarshal {json_type(value)} into Go value of type api.{struct}"
        )
    return value


def _decode(body: bytes, struct: str, fields: Sequence[Field]) -> dict[str, Any]:
    value = _parse_body(body, struct)
    try:
        return decode_struct(value, struct, fields)
    except GoTypeError as exc:
        raise RequestError(400, str(exc)) from None


_CHAT_FIELDS = (
    Field("model", string),
    Field("messages", _messages("ChatRequest")),
    Field("stream", boolean),
    Field("format", anything),
    Field("keep_alive", _duration),
    Field("tools", array_of("api.Tools")),
    Field("options", object_of("map[string]interface {}")),
    Field("think", _think),
    Field("truncate", boolean),
    Field("shift", boolean),
    Field("_debug_render_only", boolean),
    Field("logprobs", boolean),
    Field("top_logprobs", integer),
)

_GENERATE_FIELDS = (
    Field("model", string),
    Field("prompt", string),
    Field("suffix", string),
    Field("system", string),
    Field("template", string),
    Field("context", array_of("[]int", integer)),
    Field("stream", boolean),
    Field("raw", boolean),
    Field("format", anything),
    Field("keep_alive", _duration),
    Field("images", array_of("[]api.ImageData", string)),
    Field("options", object_of("map[string]interface {}")),
    Field("think", _think),
    Field("truncate", boolean),
    Field("shift", boolean),
    Field("_debug_render_only", boolean),
    Field("logprobs", boolean),
    Field("top_logprobs", integer),
)

_SHOW_FIELDS = (
    Field("model", string),
    Field("system", string),
    Field("template", string),
    Field("verbose", boolean),
    Field("options", object_of("map[string]interface {}")),
    Field("name", string),
)


def _check_top_logprobs(value: int) -> None:
    if value < 0 or value > 20:
        raise RequestError(400, "top_logprobs must be between 0 and 20")


def decode_chat(body: bytes) -> InferenceParams:
    """``/api/chat`` (``api.ChatRequest``)."""
    data = _decode(body, "ChatRequest", _CHAT_FIELDS)
    params = InferenceParams(
        endpoint="chat",
        model=data.get("model", ""),
        messages=data.get("messages", []),
        stream=data.get("stream", True),
        keep_alive_ns=data.get("keep_alive"),
        options=dict(data.get("options", {})),
        think=data.get("think"),
        tools=data.get("tools", []),
        top_logprobs=data.get("top_logprobs", 0),
    )
    _check_top_logprobs(params.top_logprobs)
    return params


def decode_generate(body: bytes) -> InferenceParams:
    """``/api/generate`` (``api.GenerateRequest``)."""
    data = _decode(body, "GenerateRequest", _GENERATE_FIELDS)
    params = InferenceParams(
        endpoint="generate",
        model=data.get("model", ""),
        prompt=data.get("prompt", ""),
        suffix=data.get("suffix", ""),
        system=data.get("system", ""),
        template=data.get("template", ""),
        context=data.get("context"),
        raw=data.get("raw", False),
        stream=data.get("stream", True),
        keep_alive_ns=data.get("keep_alive"),
        options=dict(data.get("options", {})),
        think=data.get("think"),
        top_logprobs=data.get("top_logprobs", 0),
    )
    _check_top_logprobs(params.top_logprobs)
    return params


def decode_show(body: bytes) -> str:
    """``/api/show``: the requested model name (``model``, else legacy ``name``)."""
    data = _decode(body, "ShowRequest", _SHOW_FIELDS)
    model: str = data.get("model") or data.get("name") or ""
    if not model:
        raise RequestError(400, "model is required")
    return model


# -- options (Options.FromMap) -----------------------------------------------------------------

_INT_OPTIONS = frozenset(
    {
        "num_keep",
        "seed",
        "num_predict",
        "top_k",
        "repeat_last_n",
        "num_ctx",
        "num_batch",
        "num_gpu",
        "main_gpu",
        "num_thread",
        "draft_num_predict",
    }
)
_FLOAT_OPTIONS = frozenset(
    {
        "top_p",
        "min_p",
        "typical_p",
        "temperature",
        "repeat_penalty",
        "presence_penalty",
        "frequency_penalty",
    }
)
_BOOL_OPTIONS = frozenset({"use_mmap"})


def validate_options(options: dict[str, Any]) -> None:
    """Reject wrongly typed known options like ``Options.FromMap`` (HTTP 500); ignore unknown."""
    for key, value in options.items():
        if value is None:
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if key in _INT_OPTIONS and not number:
            raise RequestError(500, f"option {go_quote(key)} must be of type integer")
        if key in _FLOAT_OPTIONS and not number:
            raise RequestError(500, f"option {go_quote(key)} must be of type float32")
        if key in _BOOL_OPTIONS and not isinstance(value, bool):
            raise RequestError(500, f"option {go_quote(key)} must be of type boolean")
        if key == "stop":
            if not isinstance(value, list):
                raise RequestError(500, f"option {go_quote(key)} must be of type array")
            if not all(isinstance(item, str) for item in value):
                raise RequestError(500, f"option {go_quote(key)} must be of an array of strings")
