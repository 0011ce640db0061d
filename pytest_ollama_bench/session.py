"""The plugin object of one pytest session: clients, model availability, fan-out, gates, records.

``plugin.py`` registers one :class:`BenchSession` per session; its hook methods run on every
process (controller and xdist workers); collecting records and writing reports happens only
where records arrive, the controller.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import NoReturn
from typing import Protocol
from typing import TypeVar

import pytest

from .availability import find_model
from .availability import missing_model_reason
from .availability import model_list_failure_reason
from .availability import parse_ollama_list
from .hosts import redact_host
from .settings import Settings
from .spec import BenchSpec
from .spec import MarkerError
from .spec import evaluate_gates
from .spec import parse_marker
from .transport import CASE_KEY
from .transport import DETAILS_KEY
from .transport import GATES_KEY
from .transport import RECORD_KEY
from .transport import RESOURCES_KEY

if TYPE_CHECKING:
    # heavy (pydantic, aiohttp, psutil): imported where first needed, so a session that runs
    # no benchmark never pays for them
    from .collect import CaseCollector
    from .fixture import OllamaBench
    from .hostlock import HostLock
    from .models import CallRecord
    from .models import GateResult
    from .models import Measurement
    from .models import ModelDetails
    from .models import ResourceUse
    from .output import SessionOutput
    from .runner import LoopThread
    from .sysinfo import ResourceSampler

__all__ = ["BenchClient", "BenchSession", "session_key"]

T = TypeVar("T")

MARKER = "llm_bench"
MODEL_PARAM = "ollama_model"

spec_key = pytest.StashKey[BenchSpec]()
records_key = pytest.StashKey["list[CallRecord]"]()


class BenchClient(Protocol):
    """What the fixture needs from an API client (native Ollama or OpenAI-compatible)."""

    async def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        options: Mapping[str, Any] | None = None,
        warmup: bool = False,
    ) -> Measurement: ...

    async def generate(
        self,
        model: str,
        prompt: str,
        *,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        warmup: bool = False,
    ) -> Measurement: ...

    async def version(self) -> str: ...

    async def installed_models(self) -> list[ModelDetails]: ...

    async def aclose(self) -> None: ...


class _Unreachable(Exception):
    pass


class BenchSession:
    """State and hooks of pytest-ollama-bench for one pytest session."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        close_embedded: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self._close_embedded = close_embedded
        self.display_host = redact_host(settings.host)
        self._loop_thread: LoopThread | None = None
        self._client: BenchClient | None = None
        self._installed: list[ModelDetails] | None = None
        self._unreachable: str | None = None
        self._checked = False
        self._collector: CaseCollector | None = None
        self._lock: HostLock | None = None
        self.output: SessionOutput | None = None

    @property
    def _loop(self) -> LoopThread:
        if self._loop_thread is None:
            from .runner import LoopThread

            self._loop_thread = LoopThread()
        return self._loop_thread

    @property
    def collector(self) -> CaseCollector:
        if self._collector is None:
            from .collect import CaseCollector

            self._collector = CaseCollector()
        return self._collector

    # ----------------------------------------------------------------- clients

    def new_client(self) -> BenchClient:
        """A fresh client for the configured host and API, bound to the running loop."""
        if self.settings.api == "openai":
            from .openai import OpenAIClient

            return OpenAIClient(self.settings.host, timeout=self.settings.timeout)
        from .client import OllamaClient

        return OllamaClient(self.settings.host, timeout=self.settings.timeout)

    def _host_lock(self) -> HostLock | None:
        """Under xdist, the lock that makes workers take turns on the server."""
        if not self.settings.serialize or not hasattr(self.config, "workerinput"):
            return None
        if self._lock is None:
            from .hostlock import HostLock

            self._lock = HostLock(self.settings.host)
        return self._lock

    def run_sync(self, fn: Callable[[BenchClient], Awaitable[T]]) -> T:
        """Run ``fn(client)`` on the session's private loop with its shared client."""

        async def call() -> T:
            if self._client is None:
                self._client = self.new_client()
            return await fn(self._client)

        lock = self._host_lock()
        if lock is None:
            return self._loop.run(call())
        with lock:
            return self._loop.run(call())

    async def run_async(self, fn: Callable[[BenchClient], Awaitable[T]]) -> T:
        """Run ``fn(client)`` on the caller's loop with a client of its own."""
        import asyncio

        lock = self._host_lock()
        if lock is not None:
            await asyncio.to_thread(lock.acquire)  # waiting must not block the test's loop
        client = self.new_client()
        try:
            return await fn(client)
        finally:
            await client.aclose()
            if lock is not None:
                lock.release()

    def close(self) -> None:
        """Close the shared client and stop the private loop."""
        client, self._client = self._client, None
        if self._loop_thread is not None:
            self._loop_thread.close(client.aclose() if client is not None else None)
        close_embedded, self._close_embedded = self._close_embedded, None
        if close_embedded is not None:
            close_embedded()

    # ----------------------------------------------------------------- availability

    def installed_models(self) -> list[ModelDetails]:
        """The server's models, fetched once per process; raises _Unreachable with a reason."""
        if not self._checked:
            from .errors import ServerError

            self._checked = True
            try:
                self._installed = self._loop.run(self._fetch_models())
            except ServerError as exc:
                self._installed = self._ollama_list_fallback()
                if self._installed is None:
                    self._unreachable = model_list_failure_reason(exc)
        if self._installed is None:
            raise _Unreachable(self._unreachable or f"no model list from {self.display_host}")
        return self._installed

    async def _fetch_models(self) -> list[ModelDetails]:
        client = self.new_client()
        try:
            return await client.installed_models()
        finally:
            await client.aclose()

    def _ollama_list_fallback(self) -> list[ModelDetails] | None:
        """``ollama list`` when /api/tags failed and the CLI is installed (native API only)."""
        exe = shutil.which("ollama")
        if exe is None or self.settings.api != "native":
            return None
        env = {**os.environ, "OLLAMA_HOST": self.settings.host}
        try:
            done = subprocess.run(
                [exe, "list"], capture_output=True, text=True, timeout=30, env=env, check=False
            )
            if done.returncode != 0:
                return None
            return parse_ollama_list(done.stdout)
        except (OSError, subprocess.SubprocessError, ValueError):
            return None

    def _not_available(self, reason: str) -> None:
        if self.settings.require:
            pytest.fail(f"{reason} (--ollama-require is set)", pytrace=False)
        skip_here(reason)

    def ensure_available(self, models: Sequence[str]) -> None:
        """Skip (or, under --ollama-require, error) unless the server has every model."""
        try:
            installed = self.installed_models()
        except _Unreachable as exc:
            self._not_available(str(exc))
            return
        for model in models:
            if find_model(model, installed) is None:
                self._not_available(missing_model_reason(model, self.display_host, installed))

    # ----------------------------------------------------------------- fan-out

    def generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrize every ``llm_bench`` test over its models: ids ``test_x[llama3.2]``."""
        marker = metafunc.definition.get_closest_marker(MARKER)
        if marker is None:
            return
        try:
            models = parse_marker(marker.args, marker.kwargs).models
        except MarkerError:
            return  # reported as this test's error at setup
        models = models or self.settings.models
        if not models:
            return  # skipped at setup with how to select models
        if MODEL_PARAM not in metafunc.fixturenames:
            metafunc.fixturenames.append(MODEL_PARAM)
        metafunc.parametrize(MODEL_PARAM, list(models), ids=list(models), indirect=True)

    def make_bench(self, item: pytest.Item, model: str | None) -> OllamaBench:
        """The ``ollama_bench`` fixture's value for ``item``."""
        from .fixture import OllamaBench

        spec = item.stash.get(spec_key, None) or BenchSpec()
        return OllamaBench(item=item, session=self, spec=spec, model=model)

    def attach(self, item: pytest.Item, record: CallRecord) -> None:
        """Keep ``record`` for gates and send it to the controller with the test report."""
        item.stash.setdefault(records_key, []).append(record)
        item.user_properties.append((RECORD_KEY, record.model_dump(mode="json")))
        details = self._model_details(record.model)
        if details is not None:
            item.user_properties.append((DETAILS_KEY, {record.model: details.model_dump()}))

    def _model_details(self, model: str) -> ModelDetails | None:
        if not self._installed:
            return None
        return find_model(model, self._installed)

    # ----------------------------------------------------------------- test hooks

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        s = self.settings
        models = ",".join(s.models) or "none selected"
        embedded = " (embedded llama.cpp)" if s.embedded else ""
        serial = ""
        if config.getoption("numprocesses", None):  # the header is the controller's
            serial = ", xdist workers take turns" if s.serialize else ", xdist workers overlap"
        return [
            f"ollama-bench: host={self.display_host}{embedded}, api={s.api}, models={models}, "
            f"rounds={s.rounds}, warmup={s.warmup}{serial}"
        ]

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        marker = item.get_closest_marker(MARKER)
        if marker is None:
            return
        callspec = getattr(item, "callspec", None)
        model = callspec.params.get(MODEL_PARAM) if callspec is not None else None
        item.user_properties.append((CASE_KEY, {"model": model, "test": _test_id(item, model)}))
        try:
            spec = parse_marker(marker.args, marker.kwargs)
        except MarkerError as exc:
            pytest.fail(f"{item.nodeid}: {exc}", pytrace=False)
        item.stash[spec_key] = spec
        if model is None:
            skip_here(
                "no model selected for this benchmark: run pytest --ollama-models=NAME[,NAME] "
                "(or set ollama_models in the ini file or PYTEST_OLLAMA_MODELS), or use "
                "@pytest.mark.llm_bench(models=[...])"
            )
        self.ensure_available([model])

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        # setup stashed the spec of every marked test: no second marker lookup per test
        benchmark = spec_key in item.stash or "ollama_bench" in getattr(item, "fixturenames", ())
        sampler = None
        if benchmark:
            from .sysinfo import ResourceSampler

            sampler = ResourceSampler().start()
        try:
            result = yield
        except BaseException:
            self._after_call(item, sampler, body_failed=True)
            raise
        self._after_call(item, sampler, body_failed=False)
        return result

    def _after_call(
        self, item: pytest.Item, sampler: ResourceSampler | None, *, body_failed: bool
    ) -> None:
        if sampler is not None:
            use = sampler.stop()
            records = item.stash.get(records_key, [])
            if records and self.settings.api == "native":
                use = self._with_vram(use, records[-1].model)
            item.user_properties.append((RESOURCES_KEY, use.model_dump(mode="json")))
        self._check_gates(item, body_failed=body_failed)

    def _server_version(self) -> str | None:
        from .errors import ServerError

        async def version() -> str:
            client = self.new_client()
            try:
                return await client.version()
            finally:
                await client.aclose()

        try:
            return self._loop.run(version()) or None
        except (ServerError, OSError):
            return None

    def _with_vram(self, use: ResourceUse, model: str) -> ResourceUse:
        from .client import OllamaClient
        from .errors import ServerError
        from .sysinfo import vram_from_ps

        async def ps() -> list[dict[str, Any]]:
            async with OllamaClient(self.settings.host, timeout=5) as client:
                return await client.ps()

        try:
            vram, size = vram_from_ps(self._loop.run(ps()), model)
        except (ServerError, ValueError):
            return use
        return use.model_copy(update={"vram_mb": vram, "model_size_mb": size})

    def _check_gates(self, item: pytest.Item, *, body_failed: bool) -> None:
        records = item.stash.get(records_key, [])
        if not records:
            return
        spec = item.stash.get(spec_key, None) or BenchSpec()
        by_model: dict[str, list[Measurement]] = {}
        for record in records:
            by_model.setdefault(record.model, []).extend(record.rounds)
        results: list[tuple[str, GateResult]] = []
        for model, rounds in by_model.items():
            if any(not m.warmup for m in rounds):
                results.extend(
                    (model, g) for g in evaluate_gates(model, rounds, spec, self.settings)
                )
        if not results:
            return
        item.user_properties.append(
            (GATES_KEY, [{"model": model, **g.model_dump(mode="json")} for model, g in results])
        )
        missed = [g.message for _, g in results if not g.passed]
        if not missed:
            return
        text = "benchmark gate(s) missed:\n" + "\n".join(f"  {m}" for m in missed)
        if body_failed:
            item.add_report_section("call", "ollama-bench gates", text)
            return
        pytest.fail(text, pytrace=False)

    # ----------------------------------------------------------------- controller side

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.user_properties:  # the common case: not a benchmark
            return
        properties = list(report.user_properties)
        if not any(name in (CASE_KEY, RECORD_KEY) for name, _ in properties):
            return
        from .collect import junit_properties
        from .collect import strip_internal

        error = None
        if report.failed or report.skipped:
            error = _skip_reason(report) if report.skipped else _error_text(report)
        self.collector.add(
            nodeid=report.nodeid,
            when=report.when,
            outcome=report.outcome,
            properties=properties,
            error=error,
            duration=report.duration,
        )
        if report.when == "teardown":
            # JUnit XML writes the teardown report's properties: compact metrics, not raw JSON
            report.user_properties = strip_internal(properties) + junit_properties(properties)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput") or not self._collector:
            return
        from .output import SessionOutput

        self.output = SessionOutput(
            self.settings,
            self.display_host,
            rootdir=self.config.rootpath,
            verbosity=self.config.get_verbosity(),
            fetch_version=self._server_version,
        )
        self.output.finish(self.collector.cases(), int(exitstatus))
        if self.output.regressions and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.output is not None:
            self.output.terminal(terminalreporter)


EMBEDDED_URL = "ollama_bench_embedded_url"
DEFAULT_EMBEDDED_MODEL = "smollm2:135m"


def start_session(config: pytest.Config, settings: Settings) -> BenchSession:
    """The session's plugin object; with ``--ollama-embedded``, also its llama.cpp server.

    With the native API the model is served by the emulator's Ollama front over the llama.cpp
    engine; with ``--ollama-api openai`` by llama.cpp's own OpenAI-compatible HTTP server.
    Under xdist the controller serves the model once and hands its URL to the workers.
    """
    if not settings.embedded:
        return BenchSession(config, settings)
    gguf, name = settings.embedded_gguf or (None, DEFAULT_EMBEDDED_MODEL)
    workerinput = getattr(config, "workerinput", None)
    close: Callable[[], None] | None = None
    if workerinput is not None and EMBEDDED_URL in workerinput:
        url = str(workerinput[EMBEDDED_URL])
    else:
        url, close = _start_embedded(gguf, name, settings.api)
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_EmbeddedXdistHooks(url), "ollama-bench-xdist")
    settings = dataclasses.replace(settings, host=url, models=settings.models or (name,))
    return BenchSession(config, settings, close_embedded=close)


def _start_embedded(gguf: str | None, name: str, api: str) -> tuple[str, Callable[[], None]]:
    """Start the embedded server; returns its URL and how to stop it."""
    try:
        from .testing.fake import EmulatorThread
        from .testing.llamacpp import LlamaCppUnavailableError
        from .testing.llamacpp import embedded_engine
        from .testing.llamacpp import start_llamacpp_http_server

        if api == "openai":
            # prompt caching off server-wide: every round evaluates its whole prompt
            http = start_llamacpp_http_server(gguf, 0, name=name, cache_prompt=False)
            return http.url, http.close
        thread = EmulatorThread(embedded_engine(gguf, name)).start()
        return thread.url, thread.stop
    except (ImportError, LlamaCppUnavailableError) as exc:
        raise pytest.UsageError(
            f"--ollama-embedded needs the llama.cpp engine: {exc}; install it with "
            "python -m pytest_ollama_bench install-local"
        ) from None


class _EmbeddedXdistHooks:
    """Hands the controller's embedded server URL to every xdist worker."""

    def __init__(self, url: str) -> None:
        self.url = url

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[EMBEDDED_URL] = self.url


def skip_here(reason: str) -> NoReturn:
    """Skip the running test, reported at the test's location rather than this plugin's."""
    raise pytest.skip.Exception(reason, _use_item_location=True)


def _test_id(item: pytest.Item, model: str | None) -> str:
    """``item``'s node id without the model parameter: the row group of the summary."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or model is None:
        return item.nodeid
    suffix = f"[{callspec.id}]"
    base = item.nodeid[: -len(suffix)] if item.nodeid.endswith(suffix) else item.nodeid
    rest = callspec.id
    for pattern in (f"{model}-", f"-{model}"):
        if pattern in f"-{rest}-":
            rest = f"-{rest}-".replace(pattern, "-", 1).strip("-")
            break
    else:
        rest = "" if rest == model else rest
    return f"{base}[{rest}]" if rest else base


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason.removeprefix("Skipped: ")
    return str(longrepr)


def _error_text(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if isinstance(message, str) and message:
        return message.removeprefix("Failed: ")
    return report.longreprtext.strip().splitlines()[-1] if report.longreprtext.strip() else ""


session_key = pytest.StashKey[BenchSession]()
