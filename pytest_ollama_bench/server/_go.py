"""Small reproductions of Go behaviour that shows on Ollama's wire.

Ollama is a Go server (gin + ``encoding/json``), so an emulator has to copy a few Go habits:
``json.Marshal``'s compact, HTML-escaped output; ``time.Time``'s RFC 3339 rendering with
trailing zeros trimmed from the nanoseconds; ``time.ParseDuration``; ``%q`` quoting; and the
texts of ``encoding/json`` decode errors.
"""

from __future__ import annotations

import calendar
import json
import re
import time
from typing import Any

__all__ = [
    "MAX_DURATION_NS",
    "GoDecodeError",
    "format_time",
    "go_quote",
    "json_type",
    "marshal",
    "parse_duration",
    "parse_time_ns",
    "unmarshal",
]

MAX_DURATION_NS = 2**63 - 1
"""``time.Duration(math.MaxInt64)``: what Ollama stores for "keep the model loaded forever"."""

_HTML_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_HTML_RE = re.compile("[<>&\u2028\u2029]")


def marshal(obj: Any) -> bytes:
    """Serialise like Go's ``json.Marshal``: compact, UTF-8, HTML characters escaped.

    ``<``, ``>``, ``&``, U+2028 and U+2029 can only occur inside JSON strings, so replacing them
    in the serialised text is exact.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = _HTML_RE.sub(lambda m: _HTML_ESCAPES[m.group()], text)
    return text.encode("utf-8", "replace")


def format_time(ns: int, *, utc: bool) -> str:
    """Render a Unix time in nanoseconds as Go's ``time.RFC3339Nano``.

    Trailing zeros of the fraction are trimmed (no fraction at all when it is zero); the zone is
    ``Z`` for UTC (or any zero offset), else ``+hh:mm``/``-hh:mm`` of the local zone.
    """
    secs, frac = divmod(ns, 1_000_000_000)
    tm = time.gmtime(secs) if utc else time.localtime(secs)
    offset = 0 if utc else tm.tm_gmtoff
    text = time.strftime("%Y-%m-%dT%H:%M:%S", tm)
    if frac:
        text += f".{frac:09d}".rstrip("0")
    if offset == 0:
        return text + "Z"
    sign = "+" if offset > 0 else "-"
    offset = abs(offset)
    return f"{text}{sign}{offset // 3600:02d}:{offset % 3600 // 60:02d}"


_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_time_ns(text: str) -> int:
    """Parse an RFC 3339 timestamp (any fraction length) to Unix nanoseconds."""
    match = _TIME_RE.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    frac = int((match.group(7) or "").ljust(9, "0"))
    zone = match.group(8)
    offset = 0
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        offset = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    secs = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    return secs * 1_000_000_000 + frac


_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` (nanoseconds), with Go's error texts as ``ValueError``."""
    quoted = go_quote(text)
    s = text
    negative = False
    if s and s[0] in "+-":
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0.0
    while s:
        match = re.match(r"(\d*)(?:\.(\d*))?", s)
        assert match is not None  # the pattern matches the empty string
        whole, frac = match.group(1), match.group(2)
        if not whole and not frac:
            raise ValueError(f"time: invalid duration {quoted}")
        s = s[match.end() :]
        unit_match = re.match(r"[^\d.]*", s)
        assert unit_match is not None
        unit = unit_match.group()
        s = s[len(unit) :]
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _UNITS_NS:
            raise ValueError(f"time: unknown unit {go_quote(unit)} in duration {quoted}")
        value = float(f"{whole or '0'}.{frac or '0'}")
        total += value * _UNITS_NS[unit]
    if total > MAX_DURATION_NS:
        raise ValueError(f"time: invalid duration {quoted}")
    return -int(total) if negative else int(total)


_SIMPLE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(text: str) -> str:
    """Go's ``%q`` / ``strconv.Quote``: double quotes, printable Unicode kept as is."""
    out = ['"']
    for ch in text:
        if ch in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _quote_char(ch: str) -> str:
    """``encoding/json``'s ``quoteChar``."""
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    return "'" + go_quote(ch)[1:-1] + "'"


def json_type(value: Any) -> str:
    """How ``encoding/json`` names the JSON type of a decoded value in its errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class GoDecodeError(ValueError):
    """A request body that Go's JSON decoder would reject; ``str(exc)`` is Go's text."""


class _NonFiniteError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFiniteError(name)


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_GO_WHITESPACE = " \t\r\n"


def _container_at(text: str, pos: int) -> str:
    """The innermost open bracket (``{`` or ``[``) at ``pos``, skipping strings."""
    stack: list[str] = []
    in_string = False
    escaped = False
    for ch in text[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _translate(exc: json.JSONDecodeError, text: str) -> str:
    pos, msg = exc.pos, exc.msg
    if pos >= len(text) or msg.startswith("Unterminated string"):
        return "unexpected EOF"
    ch = text[pos]
    if msg == "Expecting value":
        return f"invalid character {_quote_char(ch)} looking for beginning of value"
    if msg.startswith(("Expecting property name", "Illegal trailing comma")):
        if ch == "]":
            return f"invalid character {_quote_char(ch)} looking for beginning of value"
        return f"invalid character {_quote_char(ch)} looking for beginning of object key string"
    if msg == "Expecting ':' delimiter":
        return f"invalid character {_quote_char(ch)} after object key"
    if msg == "Expecting ',' delimiter":
        if _container_at(text, pos) == "[":
            return f"invalid character {_quote_char(ch)} after array element"
        return f"invalid character {_quote_char(ch)} after object key:value pair"
    if msg.startswith("Invalid control character"):
        return f"invalid character {_quote_char(ch)} in string literal"
    if msg.startswith("Invalid \\"):
        bad = text[pos + 1] if pos + 1 < len(text) else ch
        return f"invalid character {_quote_char(bad)} in string escape code"
    return msg


def unmarshal(body: bytes) -> Any:
    """Decode a request body the way gin's ``ShouldBindJSON`` does.

    Raises ``EOFError`` for an empty (or all-whitespace) body and :class:`GoDecodeError` with
    Go's message for malformed JSON. Like Go's ``json.Decoder``, data after the first JSON value
    is ignored.
    """
    text = body.decode("utf-8", "replace")
    start = len(text) - len(text.lstrip(_GO_WHITESPACE))
    if start == len(text):
        raise EOFError("EOF")
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except _NonFiniteError as exc:
        first = str(exc).lstrip("-")[0]
        where = "looking for beginning of value"
        if str(exc).startswith("-"):
            where = "in numeric literal"
        raise GoDecodeError(f"invalid character {_quote_char(first)} {where}") from None
    except json.JSONDecodeError as exc:
        raise GoDecodeError(_translate(exc, text)) from None
    return value
