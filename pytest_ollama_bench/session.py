"""The plugin object of one pytest session: clients, model availability, fan-out, gates, records.

``plugin.py`` registers one :class:`BenchSession` per session; its hook methods run on every
process (controller and xdist workers); collecting records and writing reports happens only
where records arrive, the controller.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Protocol
from typing import TypeVar

import pytest

from .availability import InstalledModel
from .availability import find_model
from .availability import missing_model_reason
from .availability import parse_ollama_list
from .availability import parse_tags
from .availability import unreachable_reason
from .client import OllamaClient
from .client import OllamaError
from .client import redact_host
from .fixture import OllamaBench
from .fixture import skip_here
from .models import CallRecord
from .models import GateResult
from .models import Measurement
from .models import Settings
from .runner import LoopThread
from .spec import BenchSpec
from .spec import MarkerError
from .spec import evaluate_gates
from .spec import parse_marker

__all__ = ["RECORD_KEY", "BenchClient", "BenchSession", "session_key"]

T = TypeVar("T")

MARKER = "llm_bench"
MODEL_PARAM = "ollama_model"
#: ``user_properties`` names under which records travel to the controller.
RECORD_KEY = "ollama_bench"
GATES_KEY = "ollama_bench_gates"
CASE_KEY = "ollama_bench_case"

spec_key = pytest.StashKey[BenchSpec]()
records_key = pytest.StashKey[list[CallRecord]]()


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

    async def aclose(self) -> None: ...


class _Unreachable(Exception):
    pass


class BenchSession:
    """State and hooks of pytest-ollama-bench for one pytest session."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.display_host = redact_host(settings.host)
        self._loop = LoopThread()
        self._client: BenchClient | None = None
        self._installed: list[InstalledModel] | None = None
        self._unreachable: str | None = None
        self._checked = False

    # ----------------------------------------------------------------- clients

    def new_client(self) -> BenchClient:
        """A fresh client for the configured host and API, bound to the running loop."""
        if self.settings.api == "openai":
            from .openai import OpenAIClient

            return OpenAIClient(self.settings.host, timeout=self.settings.timeout)
        return OllamaClient(self.settings.host, timeout=self.settings.timeout)

    def run_sync(self, fn: Callable[[BenchClient], Awaitable[T]]) -> T:
        """Run ``fn(client)`` on the session's private loop with its shared client."""

        async def call() -> T:
            if self._client is None:
                self._client = self.new_client()
            return await fn(self._client)

        return self._loop.run(call())

    async def run_async(self, fn: Callable[[BenchClient], Awaitable[T]]) -> T:
        """Run ``fn(client)`` on the caller's loop with a client of its own."""
        client = self.new_client()
        try:
            return await fn(client)
        finally:
            await client.aclose()

    def close(self) -> None:
        """Close the shared client and stop the private loop."""
        client, self._client = self._client, None
        self._loop.close(client.aclose() if client is not None else None)

    # ----------------------------------------------------------------- availability

    def installed_models(self) -> list[InstalledModel]:
        """The server's models, fetched once per process; raises _Unreachable with a reason."""
        if not self._checked:
            self._checked = True
            try:
                self._installed = self._loop.run(self._fetch_models())
            except OllamaError as exc:
                self._installed = self._ollama_list_fallback()
                if self._installed is None:
                    self._unreachable = unreachable_reason(self.display_host, _detail(exc))
        if self._installed is None:
            raise _Unreachable(self._unreachable or f"no model list from {self.display_host}")
        return self._installed

    async def _fetch_models(self) -> list[InstalledModel]:
        if self.settings.api == "openai":
            from .openai import OpenAIClient

            async with OpenAIClient(self.settings.host, timeout=self.settings.timeout) as oa:
                return await oa.installed_models()
        async with OllamaClient(self.settings.host, timeout=self.settings.timeout) as client:
            return parse_tags({"models": await client.tags()})

    def _ollama_list_fallback(self) -> list[InstalledModel] | None:
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
        spec = item.stash.get(spec_key, None) or BenchSpec()
        return OllamaBench(item=item, session=self, spec=spec, model=model)

    def attach(self, item: pytest.Item, record: CallRecord) -> None:
        """Keep ``record`` for gates and send it to the controller with the test report."""
        item.stash.setdefault(records_key, []).append(record)
        item.user_properties.append((RECORD_KEY, record.model_dump(mode="json")))

    # ----------------------------------------------------------------- hooks

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        s = self.settings
        models = ",".join(s.models) or "none selected"
        return [
            f"ollama-bench: host={self.display_host}, api={s.api}, models={models}, "
            f"rounds={s.rounds}, warmup={s.warmup}"
        ]

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        marker = item.get_closest_marker(MARKER)
        if marker is None:
            return
        try:
            spec = parse_marker(marker.args, marker.kwargs)
        except MarkerError as exc:
            pytest.fail(f"{item.nodeid}: {exc}", pytrace=False)
        item.stash[spec_key] = spec
        callspec = getattr(item, "callspec", None)
        model = callspec.params.get(MODEL_PARAM) if callspec is not None else None
        item.user_properties.append((CASE_KEY, {"model": model}))
        if model is None:
            skip_here(
                "no model selected for this benchmark: run pytest --ollama-models=NAME[,NAME] "
                "(or set ollama_models in the ini file or PYTEST_OLLAMA_MODELS), or use "
                "@pytest.mark.llm_bench(models=[...])"
            )
        self.ensure_available([model])

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        try:
            result = yield
        except BaseException:
            self._check_gates(item, body_failed=True)
            raise
        self._check_gates(item, body_failed=False)
        return result

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


def _detail(exc: OllamaError) -> str:
    """The short cause inside a client error message, e.g. 'Connect call failed ...'."""
    message = exc.message
    start, end = message.find("("), message.rfind(")")
    return message[start + 1 : end] if 0 <= start < end else message


session_key = pytest.StashKey[BenchSession]()
