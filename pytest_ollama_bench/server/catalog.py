"""What the server says about its models: lookup by name and the bodies that list or show them.

``/api/tags`` (newest first), ``/api/ps`` (latest expiry first), ``/api/show`` and the ``/v1``
model objects, built from the engine's :class:`~.engine.ModelCard` s in Go's field order. Names
are matched case-insensitively with Ollama's rules (:mod:`pytest_ollama_bench.names`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..names import ModelName
from ..names import parse_model_name
from ._go import format_time
from ._requests import RequestError
from .engine import Engine
from .engine import ModelCard
from .responses import NS_PER_S
from .responses import unix_seconds

__all__ = [
    "canonical_name",
    "details",
    "find_card",
    "lookup",
    "ps_body",
    "show_body",
    "sorted_cards",
    "tags_body",
    "v1_model_body",
    "v1_models_body",
]

_PARAM_UNITS = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def _parameter_count(parameter_size: str) -> int | None:
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMBT])\s*", parameter_size.upper())
    if match is None:
        return None
    return round(float(match.group(1)) * _PARAM_UNITS[match.group(2)])


def find_card(engine: Engine, name: ModelName) -> ModelCard | None:
    """The installed model ``name`` denotes (case-insensitive), or ``None``."""
    for card in engine.cards():
        parsed = parse_model_name(card.name)
        if parsed is not None and parsed.key == name.key:
            return card
    return None


def canonical_name(engine: Engine, name: ModelName) -> ModelName:
    """``getExistingName``: each part takes the spelling of an installed name's part."""
    parts = {"host": name.host, "namespace": name.namespace, "model": name.model}
    parts["tag"] = name.tag
    for card in engine.cards():
        installed = parse_model_name(card.name)
        if installed is None:
            continue
        for attr in ("host", "namespace", "model", "tag"):
            if getattr(installed, attr).lower() == parts[attr].lower():
                parts[attr] = getattr(installed, attr)
    return ModelName(**parts)


def lookup(engine: Engine, requested: str) -> ModelCard:
    """The model ``/api/show`` and ``/v1/models/{model}`` describe.

    :raises RequestError: 400 ``invalid model name``, or 404 ``model '...' not found`` with the
        installed spelling of the name.
    """
    name = parse_model_name(requested.strip())
    if name is None:
        raise RequestError(400, "invalid model name")
    card = find_card(engine, name)
    if card is None:
        raise RequestError(404, f"model '{canonical_name(engine, name).display}' not found")
    return card


def details(card: ModelCard, *, context_length: bool) -> dict[str, Any]:
    """The ``details`` object (``context_length`` only in ``/api/tags``)."""
    body: dict[str, Any] = {
        "parent_model": "",
        "format": card.format,
        "family": card.family,
        "families": [card.family],
        "parameter_size": card.parameter_size,
        "quantization_level": card.quantization_level,
    }
    if context_length and card.context_length:
        body["context_length"] = card.context_length
    return body


def sorted_cards(engine: Engine) -> list[ModelCard]:
    """The installed models, newest first (whole seconds of ``modified_at``, as Ollama)."""
    cards = engine.cards()
    return sorted(cards, key=lambda card: unix_seconds(card.modified_at), reverse=True)


def tags_body(engine: Engine) -> dict[str, Any]:
    """``GET /api/tags``."""
    models = []
    for card in sorted_cards(engine):
        entry: dict[str, Any] = {
            "name": card.name,
            "model": card.name,
            "modified_at": card.modified_at,
            "size": card.size,
            "digest": card.digest,
            "details": details(card, context_length=True),
        }
        if card.capabilities:
            entry["capabilities"] = list(card.capabilities)
        models.append(entry)
    return {"models": models}


def ps_body(loaded: Sequence[tuple[ModelCard, int]]) -> dict[str, Any]:
    """``GET /api/ps`` for the loaded models and when each expires (``time.time_ns()`` scale)."""
    rows: list[tuple[int, dict[str, Any]]] = []
    for card, wall_ns in loaded:
        rows.append(
            (
                wall_ns // NS_PER_S,
                {
                    "name": card.name,
                    "model": card.name,
                    "size": card.size,
                    "digest": card.digest,
                    "details": details(card, context_length=False),
                    "expires_at": format_time(wall_ns, utc=False),
                    "size_vram": card.size if card.vram_bytes is None else card.vram_bytes,
                    "context_length": card.context_length,
                },
            )
        )
    rows.sort(key=lambda row: row[0], reverse=True)
    return {"models": [row[1] for row in rows]}


def show_body(card: ModelCard) -> dict[str, Any]:
    """``POST /api/show``."""
    stop = '"<|eot_id|>"'
    info: dict[str, Any] = {"general.architecture": card.family}
    count = _parameter_count(card.parameter_size)
    if count is not None:
        info["general.parameter_count"] = count
    info["general.quantization_version"] = 2
    info[f"{card.family}.context_length"] = card.context_length
    modelfile = (
        '# Modelfile generated by "ollama show"\n'
        "# To build a new Modelfile based on this, replace FROM with:\n"
        f"# FROM {card.name}\n\n"
        f"FROM /root/.ollama/models/blobs/sha256-{card.digest}\n"
        'TEMPLATE """{{ .Prompt }}"""\n'
        f"PARAMETER stop {stop}\n"
    )
    return {
        "modelfile": modelfile,
        "parameters": f"{'stop':<30} {stop}",
        "template": "{{ .Prompt }}",
        "details": details(card, context_length=False),
        "model_info": info,
        "capabilities": list(card.capabilities),
        "modified_at": card.modified_at,
    }


def v1_models_body(engine: Engine) -> dict[str, Any]:
    """``GET /v1/models``."""
    data = []
    for card in sorted_cards(engine):
        parsed = parse_model_name(card.name)
        data.append(
            {
                "id": card.name,
                "object": "model",
                "created": unix_seconds(card.modified_at),
                "owned_by": parsed.namespace if parsed is not None else "",
            }
        )
    # Go encodes the nil slice of an empty list as null
    return {"object": "list", "data": data or None}


def v1_model_body(card: ModelCard, requested: str) -> dict[str, Any]:
    """``GET /v1/models/{requested}`` for the model it names."""
    parsed = parse_model_name(requested)
    return {
        "id": requested,
        "object": "model",
        "created": unix_seconds(card.modified_at),
        "owned_by": parsed.namespace if parsed is not None else "",
    }
