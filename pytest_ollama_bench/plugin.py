"""pytest hooks of pytest-ollama-bench; each is a few lines that delegate elsewhere.

..
  PYTEST_DONT_REWRITE
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from . import options
from .session import session_key
from .session import start_session

if TYPE_CHECKING:
    from .fixture import OllamaBench

MARKER_LINE = (
    "llm_bench(models=None, rounds=None, warmup=None, options=None, max_ttft_ms=None, "
    "max_total_ms=None, min_tokens_per_s=None, stat='median'): benchmark this test against "
    "Ollama, once per model; thresholds fail the test (pytest-ollama-bench)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.register(parser)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_LINE)
    session = start_session(config, options.resolve(config))
    config.stash[session_key] = session
    config.pluginmanager.register(session, "ollama-bench-session")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(session_key, None)
    if session is not None:
        session.close()
        config.pluginmanager.unregister(session)
        del config.stash[session_key]
    xdist_hooks = config.pluginmanager.get_plugin("ollama-bench-xdist")
    if xdist_hooks is not None:
        config.pluginmanager.unregister(xdist_hooks)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    metafunc.config.stash[session_key].generate_tests(metafunc)


@pytest.fixture
def ollama_model(request: pytest.FixtureRequest) -> str | None:
    """The model this test instance runs with (set by ``--ollama-models`` fan-out)."""
    return getattr(request, "param", None)


@pytest.fixture
def ollama_bench(request: pytest.FixtureRequest, ollama_model: str | None) -> OllamaBench:
    """Benchmark chat/generate calls against Ollama; see :class:`OllamaBench`."""
    return request.config.stash[session_key].make_bench(request.node, ollama_model)
