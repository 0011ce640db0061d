"""The ``fake_ollama`` pytest fixture (the only module of ``testing`` that imports pytest).

Enable it with ``pytest_plugins = ["pytest_ollama_bench.testing"]`` in a conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fake import FakeOllama

__all__ = ["fake_ollama"]


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    """A started :class:`FakeOllama` serving ``llama3.2`` and ``qwen2.5:0.5b`` with no delays.

    Nothing global is set: pass ``fake_ollama.url`` wherever an Ollama URL is needed.
    """
    with FakeOllama() as fake:
        yield fake
