"""The llama.cpp engine's pure parts, which need neither xllamacpp nor a model file.

Ollama options and requests mapped to llama.cpp's fields, and errors from xllamacpp's
streaming call turned into engine errors (driven by a stand-in handler).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import pytest

from pytest_ollama_bench.server.engine import EngineError
from pytest_ollama_bench.server.engine import GenerationRequest
from pytest_ollama_bench.server.llamacpp.request import OLLAMA_DEFAULT_OPTIONS
from pytest_ollama_bench.server.llamacpp.request import build_llamacpp_request
from pytest_ollama_bench.server.llamacpp.request import ollama_options_to_llamacpp
from pytest_ollama_bench.server.llamacpp.stream import stream_llamacpp as _stream_llamacpp

MODEL = "smollm2:135m"
STORY = [{"role": "user", "content": "Tell me a story about a cat."}]


def chat(messages: Sequence[dict[str, Any]], **options: Any) -> GenerationRequest:
    return GenerationRequest(
        endpoint="chat", model=MODEL, messages=list(messages), options=dict(options)
    )


# --------------------------------------------------------------------------- pure mapping


def test_options_map_to_llamacpp_names_with_ollama_defaults() -> None:
    mapped = ollama_options_to_llamacpp(
        {"temperature": 0, "seed": 42, "num_predict": 16, "stop": "END", "num_ctx": 8192}
    )
    assert mapped["temperature"] == 0.0
    assert mapped["seed"] == 42
    assert mapped["n_predict"] == 16
    assert mapped["stop"] == ["END"]
    assert "num_ctx" not in mapped
    assert "n_ctx" not in mapped
    for name in ("top_k", "top_p", "min_p", "repeat_penalty", "repeat_last_n"):
        assert mapped[name] == OLLAMA_DEFAULT_OPTIONS[name]

    special = ollama_options_to_llamacpp({"seed": -1, "num_predict": -2, "stop": ["a", "b"]})
    assert "seed" not in special  # Ollama's "random seed"
    assert special["n_predict"] == -1
    assert special["stop"] == ["a", "b"]
    assert "n_predict" not in ollama_options_to_llamacpp({})


def test_ignore_eos_reaches_llamacpp_as_a_boolean() -> None:
    assert ollama_options_to_llamacpp({"num_predict": 8, "ignore_eos": True})["ignore_eos"] is True
    assert ollama_options_to_llamacpp({"ignore_eos": 0})["ignore_eos"] is False
    assert "ignore_eos" not in ollama_options_to_llamacpp({"num_predict": 8})


def test_requests_for_chat_generate_and_raw() -> None:
    kind, payload = build_llamacpp_request(chat(STORY, temperature=0))
    assert kind == "chat"
    assert payload["messages"] == STORY
    assert payload["stream"] is True
    assert payload["cache_prompt"] is False

    generate = GenerationRequest(
        endpoint="generate", model=MODEL, prompt="Why?", system="Be brief.", options={}
    )
    kind, payload = build_llamacpp_request(generate)
    assert kind == "chat"
    assert payload["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Why?"},
    ]

    raw = GenerationRequest(endpoint="generate", model=MODEL, prompt="The sky is", raw=True)
    kind, payload = build_llamacpp_request(raw)
    assert kind == "completion"
    assert payload["prompt"] == "The sky is"
    assert "messages" not in payload


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("raised", "status"),
    [(ValueError("Expected 'messages' to be an array"), 400), (RuntimeError("boom"), 500)],
)
async def test_exceptions_from_xllamacpp_become_engine_errors(
    raised: Exception, status: int
) -> None:
    def handler(payload: dict[str, Any], callback: Callable[[Any], bool]) -> None:
        raise raised

    with pytest.raises(EngineError) as failure:
        async for _ in _stream_llamacpp(handler, {}, threading.Event()):
            pass
    assert failure.value.status == status
    assert str(raised) in failure.value.message
