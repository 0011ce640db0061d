"""Go's ``encoding/json`` decoding of a JSON object into a struct, with its error texts.

Keys match field names exactly or else case-insensitively, ``null`` leaves the zero value,
unknown keys are ignored, and a wrongly typed value is a :class:`GoTypeError` worded as Go
words it (``json: cannot unmarshal string into Go struct field ChatRequest.stream of type
bool``). A :class:`Field` names a struct field and the check that converts its value.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._go import json_type

__all__ = [
    "Check",
    "Field",
    "GoTypeError",
    "anything",
    "array_of",
    "boolean",
    "decode_struct",
    "integer",
    "number",
    "object_of",
    "string",
    "type_error",
]


class GoTypeError(Exception):
    """A Go ``UnmarshalTypeError``: decoding goes on, the first one is reported at the end."""


Check = Callable[[Any, str], Any]


@dataclass(frozen=True)
class Field:
    """A struct field: its JSON name and the check converting its value."""

    name: str
    check: Check


def type_error(value: Any, where: str, gotype: str) -> GoTypeError:
    """Go's text for ``value`` found where a ``gotype`` was expected."""
    jtype = json_type(value)
    if jtype == "number" and gotype in ("int", "int32", "int64"):
        jtype = f"number {value!r}"
    return GoTypeError(
        f"json: cannot unmarshal {jtype} into Go struct field {where} of type {gotype}"
    )


def string(value: Any, where: str) -> str:
    """A Go ``string``."""
    if not isinstance(value, str):
        raise type_error(value, where, "string")
    return value


def boolean(value: Any, where: str) -> bool:
    """A Go ``bool``."""
    if not isinstance(value, bool):
        raise type_error(value, where, "bool")
    return value


def integer(value: Any, where: str) -> int:
    """A Go ``int`` (a JSON number without a fraction)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise type_error(value, where, "int")
    return value


def number(value: Any, where: str) -> float:
    """A Go ``float64``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise type_error(value, where, "float64")
    return float(value)


def anything(value: Any, where: str) -> Any:
    """A Go ``any``: the value as decoded."""
    return value


def object_of(gotype: str) -> Check:
    """A JSON object (a Go map or struct named ``gotype`` in errors)."""

    def check(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise type_error(value, where, gotype)
        return value

    return check


def array_of(gotype: str, element: Check | None = None) -> Check:
    """A JSON array (Go slice ``gotype``), each non-null item checked by ``element``."""

    def check(value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise type_error(value, where, gotype)
        if element is None:
            return value
        return [None if item is None else element(item, where) for item in value]

    return check


def decode_struct(
    value: Any, struct: str, fields: Sequence[Field], *, where: str = ""
) -> dict[str, Any]:
    """Decode a JSON object into ``{field name: checked value}`` with Go's matching rules.

    Keys match field names exactly or else case-insensitively; ``null`` leaves the zero value;
    unknown keys are ignored. Type errors are collected and the first is raised at the end,
    other (custom unmarshaler) errors abort at once - as ``encoding/json`` does.
    """
    if not isinstance(value, dict):
        raise type_error(value, where or struct, struct)
    by_name = {f.name: f for f in fields}
    by_fold = {f.name.lower(): f for f in fields}
    out: dict[str, Any] = {}
    first_error: GoTypeError | None = None
    for key, item in value.items():
        spec = by_name.get(key) or by_fold.get(key.lower())
        if spec is None or item is None:
            continue
        path = f"{where}.{spec.name}" if where else spec.name
        try:
            out[spec.name] = spec.check(item, f"{struct}.{path}")
        except GoTypeError as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return out
