"""``python -m pytest_ollama_bench.server``: see :mod:`pytest_ollama_bench.server.cli`."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
