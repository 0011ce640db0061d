"""``python -m pytest_ollama_bench``: the command line of :mod:`pytest_ollama_bench.cli`."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
