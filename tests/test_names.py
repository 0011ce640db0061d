"""Model names: Ollama's strict reading and the client's lenient one agree on valid names."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_ollama_bench.names import DEFAULT_REGISTRY
from pytest_ollama_bench.names import ModelName
from pytest_ollama_bench.names import display_name
from pytest_ollama_bench.names import normalize_model_name
from pytest_ollama_bench.names import parse_model_name
from pytest_ollama_bench.names import read_model_name

_FIRST = "abcXYZ019_"
_REST = _FIRST + "-."


def _part(alphabet: str = _REST) -> st.SearchStrategy[str]:
    return st.builds(
        lambda first, rest: first + rest,
        st.sampled_from(_FIRST),
        st.text(alphabet, max_size=8),
    )


@st.composite
def _valid_names(draw: st.DrawFn) -> str:
    model = draw(_part())
    tag = draw(st.none() | _part())
    namespace = draw(st.none() | _part(_FIRST + "-"))
    host = draw(st.none() | _part(_REST + ":")) if namespace is not None else None
    scheme = draw(st.sampled_from(["", "https://", "http://"])) if host is not None else ""
    text = model if tag is None else f"{model}:{tag}"
    if namespace is not None:
        text = f"{namespace}/{text}"
    if host is not None:
        text = f"{scheme}{host}/{text}"
    return text


@given(_valid_names())
def test_both_readings_agree_on_every_name_ollama_accepts(name: str) -> None:
    parsed = parse_model_name(name)
    assert parsed is not None, name
    assert read_model_name(name) == parsed
    assert normalize_model_name(name) == display_name(name).lower() == parsed.display.lower()


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("llama3.2:", ModelName(DEFAULT_REGISTRY, "library", "llama3.2", "latest")),
        ("https://llama3.2", ModelName(DEFAULT_REGISTRY, "library", "llama3.2", "latest")),
        ("My Model", ModelName(DEFAULT_REGISTRY, "library", "My Model", "latest")),
        ("/models/x.gguf", ModelName(DEFAULT_REGISTRY, "models", "x.gguf", "latest")),
    ],
)
def test_lenient_reading_matches_names_ollama_rejects(name: str, parts: ModelName) -> None:
    assert parse_model_name(name) is None
    assert read_model_name(name) == parts
    with pytest.raises(ValueError, match="invalid model name"):
        display_name(name)


@pytest.mark.parametrize("name", ["ns/", "registry.ollama.ai/library/"])
def test_a_name_without_a_model_part_is_rejected_by_both(name: str) -> None:
    assert parse_model_name(name) is None
    with pytest.raises(ValueError, match="empty model part"):
        normalize_model_name(name)


def test_module_imports_only_the_standard_library() -> None:
    import pytest_ollama_bench.names as module

    tree = ast.parse(Path(module.__file__ or "").read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported
    assert {name.split(".")[0] for name in imported} <= set(sys.stdlib_module_names)
