"""pytest hooks of pytest-ollama-bench (thin: each delegates to a module of its own)."""

from __future__ import annotations
