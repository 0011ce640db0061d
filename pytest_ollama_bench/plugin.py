"""pytest hooks of pytest-ollama-bench; each is a few lines that delegate elsewhere.

..
  PYTEST_DONT_REWRITE
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from . import options
from .controller import Controller
from .controller import ctrl_c_held
from .embedded import XDIST_HOOKS
from .embedded import start_embedded
from .hosts import HostError
from .progress import ProgressReporter
from .runtest import MARKER
from .runtest import BenchTests
from .runtime import Runtime
from .spec import MARKER_ARGS

if TYPE_CHECKING:
    from .fixture import OllamaBench

_defaults = {"stat": "'median'"}
MARKER_LINE = (
    f"{MARKER}({', '.join(f'{a}={_defaults.get(a)}' for a in MARKER_ARGS)}): benchmark "
    "this test against Ollama, once per model; thresholds fail the test (pytest-ollama-bench)"
)

tests_key = pytest.StashKey[BenchTests]()
close_key = pytest.StashKey[Callable[[], None] | None]()
TESTS_PLUGIN = "ollama-bench-tests"
CONTROLLER_PLUGIN = "ollama-bench-controller"


def pytest_addoption(parser: pytest.Parser) -> None:
    options.register(parser)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_LINE)
    settings, close = start_embedded(config, options.resolve(config))
    worker = hasattr(config, "workerinput")
    try:
        runtime = Runtime(settings, serialize=settings.serialize and worker)
    except HostError as exc:  # credentials that cannot be sent; the message never shows them
        raise pytest.UsageError(f"--ollama-host / OLLAMA_HOST: {exc}") from None
    progress = ProgressReporter(config)
    tests = BenchTests(settings, runtime, progress if progress.active else None)
    config.stash[tests_key] = tests
    config.stash[close_key] = close
    config.pluginmanager.register(tests, TESTS_PLUGIN)
    if not worker:
        config.pluginmanager.register(Controller(config, settings, runtime), CONTROLLER_PLUGIN)


def pytest_unconfigure(config: pytest.Config) -> None:
    with ctrl_c_held():  # a second Ctrl-C must not leave a server or a loop behind
        tests = config.stash.get(tests_key, None)
        if tests is not None:
            tests.runtime.close()
            del config.stash[tests_key]
        for name in (TESTS_PLUGIN, CONTROLLER_PLUGIN, XDIST_HOOKS):
            plugin = config.pluginmanager.get_plugin(name)
            if plugin is not None:
                config.pluginmanager.unregister(plugin)
        close = config.stash.get(close_key, None)
        if close is not None:
            del config.stash[close_key]
            close()


@pytest.fixture
def ollama_model(request: pytest.FixtureRequest) -> str | None:
    """The model this test instance runs with (set by ``--ollama-models`` fan-out)."""
    return getattr(request, "param", None)


@pytest.fixture
def ollama_host(request: pytest.FixtureRequest) -> str | None:
    """The server this test instance runs on when ``--ollama-host`` names several."""
    return getattr(request, "param", None)


@pytest.fixture
def ollama_bench(request: pytest.FixtureRequest, ollama_model: str | None) -> OllamaBench:
    """Benchmark chat/generate calls against Ollama; see :class:`OllamaBench`."""
    return request.config.stash[tests_key].make_bench(request.node, ollama_model)
