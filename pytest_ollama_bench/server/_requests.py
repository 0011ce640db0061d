"""Request bodies decoded and validated the way Ollama's Go server does it.

Each decoder returns plain data or raises :class:`RequestError` with the status and the exact
(or, for exotic JSON type errors, Go-like) message Ollama would send.
"""

from __future__ import annotations

from collections.abc import Callable
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

__all__ = [
    "InferenceParams",
    "RequestError",
    "decode_chat",
    "decode_generate",
    "decode_openai_chat",
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


class _TypeError(Exception):
    """A Go ``UnmarshalTypeError``: decoding goes on, the first one is reported at the end."""


Check = Callable[[Any, str], Any]


@dataclass(frozen=True)
class _Field:
    name: str
    check: Check


def _type_error(value: Any, where: str, gotype: str) -> _TypeError:
    jtype = json_type(value)
    if jtype == "number" and gotype in ("int", "int32", "int64"):
        jtype = f"number {value!r}"
    return _TypeError(
        f"json: cannot unmarshal {jtype} into Go struct field {where} of type {gotype}"
    )


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _type_error(value, where, "string")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _type_error(value, where, "bool")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(value, where, "int")
    return value


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(value, where, "float64")
    return float(value)


def _any(value: Any, where: str) -> Any:
    return value


def _object(gotype: str) -> Check:
    def check(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _type_error(value, where, gotype)
        return value

    return check


def _array(gotype: str, element: Check | None = None) -> Check:
    def check(value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise _type_error(value, where, gotype)
        if element is None:
            return value
        return [None if item is None else element(item, where) for item in value]

    return check


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


def _decode_struct(
    value: Any, struct: str, fields: Sequence[_Field], *, where: str = ""
) -> dict[str, Any]:
    """Decode a JSON object into ``{field name: checked value}`` with Go's matching rules.

    Keys match field names exactly or else case-insensitively; ``null`` leaves the zero value;
    unknown keys are ignored. Type errors are collected and the first is raised at the end,
    other (custom unmarshaler) errors abort at once - as ``encoding/json`` does.
    """
    if not isinstance(value, dict):
        raise _type_error(value, where or struct, struct)
    by_name = {f.name: f for f in fields}
    by_fold = {f.name.lower(): f for f in fields}
    out: dict[str, Any] = {}
    first_error: _TypeError | None = None
    for key, item in value.items():
        spec = by_name.get(key) or by_fold.get(key.lower())
        if spec is None or item is None:
            continue
        path = f"{where}.{spec.name}" if where else spec.name
        try:
            out[spec.name] = spec.check(item, f"{struct}.{path}")
        except _TypeError as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return out


def _messages(struct: str) -> Check:
    """``[]api.Message``; errors inside ``Message.UnmarshalJSON`` carry the outer context."""
    message_fields = (
        _Field("role", _string),
        _Field("content", _string),
        _Field("thinking", _string),
        _Field("images", _array("[]api.ImageData")),
        _Field("tool_calls", _array("[]api.ToolCall")),
        _Field("tool_name", _string),
        _Field("tool_call_id", _string),
    )

    def check(value: Any, where: str) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise _type_error(value, where, "[]api.Message")
        out: list[dict[str, Any]] = []
        for item in value:
            if item is None:
                out.append({"role": "", "content": ""})
                continue
            if not isinstance(item, dict):
                raise _type_error(item, where, "api.Alias")
            try:
                message = _decode_struct(item, "Alias", message_fields)
            except _TypeError as exc:
                text = str(exc)
                inner = text.split(" of type ", 1)[1]
                jtype = text.split("cannot unmarshal ", 1)[1].split(" into ", 1)[0]
                raise _TypeError(
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


def _decode(body: bytes, struct: str, fields: Sequence[_Field]) -> dict[str, Any]:
    value = _parse_body(body, struct)
    try:
        return _decode_struct(value, struct, fields)
    except _TypeError as exc:
        raise RequestError(400, str(exc)) from None


_CHAT_FIELDS = (
    _Field("model", _string),
    _Field("messages", _messages("ChatRequest")),
    _Field("stream", _bool),
    _Field("format", _any),
    _Field("keep_alive", _duration),
    _Field("tools", _array("api.Tools")),
    _Field("options", _object("map[string]interface {}")),
    _Field("think", _think),
    _Field("truncate", _bool),
    _Field("shift", _bool),
    _Field("_debug_render_only", _bool),
    _Field("logprobs", _bool),
    _Field("top_logprobs", _int),
)

_GENERATE_FIELDS = (
    _Field("model", _string),
    _Field("prompt", _string),
    _Field("suffix", _string),
    _Field("system", _string),
    _Field("template", _string),
    _Field("context", _array("[]int", _int)),
    _Field("stream", _bool),
    _Field("raw", _bool),
    _Field("format", _any),
    _Field("keep_alive", _duration),
    _Field("images", _array("[]api.ImageData", _string)),
    _Field("options", _object("map[string]interface {}")),
    _Field("think", _think),
    _Field("truncate", _bool),
    _Field("shift", _bool),
    _Field("_debug_render_only", _bool),
    _Field("logprobs", _bool),
    _Field("top_logprobs", _int),
)

_SHOW_FIELDS = (
    _Field("model", _string),
    _Field("system", _string),
    _Field("template", _string),
    _Field("verbose", _bool),
    _Field("options", _object("map[string]interface {}")),
    _Field("name", _string),
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


# -- OpenAI compatibility (/v1/chat/completions) ------------------------------------------------

_OPENAI_MESSAGE_FIELDS = (
    _Field("role", _string),
    _Field("content", _any),
    _Field("reasoning", _string),
    _Field("tool_calls", _array("[]openai.ToolCall")),
    _Field("name", _string),
    _Field("tool_call_id", _string),
)


def _openai_messages(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _type_error(value, where, "[]openai.Message")
    out: list[dict[str, Any]] = []
    for item in value:
        if item is None:
            out.append({})
            continue
        out.append(_decode_struct(item, "Message", _OPENAI_MESSAGE_FIELDS, where="messages"))
    return out


_OPENAI_FIELDS = (
    _Field("model", _string),
    _Field("messages", _openai_messages),
    _Field("stream", _bool),
    _Field("stream_options", _object("openai.StreamOptions")),
    _Field("max_tokens", _int),
    _Field("seed", _int),
    _Field("stop", _any),
    _Field("temperature", _float),
    _Field("frequency_penalty", _float),
    _Field("presence_penalty", _float),
    _Field("top_p", _float),
    _Field("response_format", _object("openai.ResponseFormat")),
    _Field("tools", _array("[]api.Tool")),
    _Field("reasoning", _object("openai.Reasoning")),
    _Field("reasoning_effort", _string),
    _Field("logprobs", _bool),
    _Field("top_logprobs", _int),
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
        data = _decode_struct(value, "ChatCompletionRequest", _OPENAI_FIELDS)
    except _TypeError as exc:
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
    for key in ("frequency_penalty", "presence_penalty"):
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
