"""pytest-ollama-bench: benchmark LLMs served by Ollama as ordinary pytest tests."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
