"""``python -m pytest_ollama_bench.testing``: the server's command line under its older name."""

from __future__ import annotations

import sys

from ..server.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m pytest_ollama_bench.testing"))
