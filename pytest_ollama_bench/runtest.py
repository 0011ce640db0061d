"""The per-test hooks: fan-out over models, skip policy, the fixture, gates, record transport.

A plugin object registered by ``plugin.py`` on every process (controller and xdist workers).
Everything a test measures is built into cases here, where the test ran, and leaves with the
test's reports (:mod:`.transport`); only the controller collects them (``controller.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from collections.abc import Sequence
from types import CodeType
from typing import TYPE_CHECKING
from typing import Any
from typing import NoReturn
from typing import Protocol

import pytest

from . import transport
from .hosts import host_labels
from .hosts import is_loopback
from .hosts import redact_host
from .settings import Settings
from .spec import BenchSpec
from .spec import MarkerError
from .spec import parse_marker

if TYPE_CHECKING:
    from .fixture import OllamaBench
    from .models import CallRecord
    from .models import CaseRecord
    from .models import LoadRecord
    from .models import Measurement
    from .models import ModelDetails
    from .resources import ResourceSampler
    from .runtime import HostRuntime
    from .runtime import Runtime
    from .sizing import Calibrations

__all__ = ["HOST_PARAM", "MARKER", "MODEL_PARAM", "BenchTests", "calls_compare", "skip_here"]

MARKER = "llm_bench"
MODEL_PARAM = "ollama_model"
HOST_PARAM = "ollama_host"
FIXTURE = "ollama_bench"

spec_key = pytest.StashKey[BenchSpec]()
meta_key = pytest.StashKey[transport.Payload]()
records_key = pytest.StashKey["list[CallRecord | LoadRecord]"]()
cases_key = pytest.StashKey["list[CaseRecord]"]()


class Progress(Protocol):
    """Shows completed rounds on the terminal (``progress.ProgressReporter``)."""

    def round_done(self, measurement: Measurement, number: int, of: int) -> None: ...

    def clear(self) -> None: ...


def skip_here(reason: str) -> NoReturn:
    """Skip the running test, reported at the test's location rather than this plugin's."""
    raise pytest.skip.Exception(reason, _use_item_location=True)


class BenchTests:
    """Per-test hooks of pytest-ollama-bench (one object per process)."""

    def __init__(
        self, settings: Settings, runtime: Runtime, progress: Progress | None = None
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.progress = progress
        #: server URL -> its label in test ids, when the session has several
        self.labels = host_labels(settings.hosts) if settings.hosts else {}
        #: prompt sizes: each server's models once
        self.calibrations: dict[str, Calibrations] = {}

    # ----------------------------------------------------------------- collection

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        s = self.settings
        models = ",".join(s.models) or "none selected"
        embedded = " (embedded llama.cpp)" if s.embedded else ""
        serial = ""
        if config.getoption("numprocesses", None):  # the header is the controller's
            serial = ", xdist workers take turns" if s.serialize else ", xdist workers overlap"
        rounds = (
            "smoke test (one round, no warmup, no gates, no record)"
            if s.smoke
            else f"rounds={s.rounds}, warmup={s.warmup}"
        )
        policies = "".join(
            f", {name}={value}"
            for name, value, default in (("start", s.start, "warm"), ("cache", s.cache, "keep"))
            if value != default
        )
        hosts = ", ".join(redact_host(h) for h in s.targets)
        line = (
            f"ollama-bench: host{'s' if s.hosts else ''}={hosts}{embedded}, api={s.api}, "
            f"models={models}, {rounds}{policies}{serial}"
        )
        from .fit import output_width
        from .fit import wrap

        width = output_width(config.get_terminal_writer().fullwidth, config.get_verbosity())
        return wrap(line, width)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrize every benchmark over its models: ids ``test_x[llama3.2]``; with several
        servers over server x model: ``test_x[127.0.0.1:11434-llama3.2]``.

        A benchmark is a test marked ``llm_bench`` or using the ``ollama_bench`` fixture; one
        that calls ``ollama_bench.compare()`` runs several models itself, so it runs once (per
        server). A server's instances come one after the other, and under pytest-xdist carry
        ``xdist_group`` marks named after it (``--dist loadgroup`` keeps each server on one
        worker).
        """
        marker = metafunc.definition.get_closest_marker(MARKER)
        if marker is None and FIXTURE not in metafunc.fixturenames:
            return
        if self.labels:
            if HOST_PARAM not in metafunc.fixturenames:
                metafunc.fixturenames.append(HOST_PARAM)
            grouped = metafunc.config.pluginmanager.hasplugin("xdist")
            params = [
                pytest.param(
                    url, id=label, marks=[pytest.mark.xdist_group(label)] if grouped else []
                )
                for url, label in self.labels.items()
            ]
            metafunc.parametrize(HOST_PARAM, params, indirect=True)
        if calls_compare(metafunc.function):
            return
        models: Sequence[str] | None = None
        if marker is not None:
            with contextlib.suppress(MarkerError):  # an error at setup, once per model
                models = parse_marker(marker.args, marker.kwargs).models
        models = models or self.settings.models
        if not models:
            return  # skipped at setup with how to select models
        if MODEL_PARAM not in metafunc.fixturenames:
            metafunc.fixturenames.append(MODEL_PARAM)
        metafunc.parametrize(MODEL_PARAM, list(models), ids=list(models), indirect=True)

    # ----------------------------------------------------------------- the fixture

    def host_of(self, item: pytest.Item) -> HostRuntime:
        """The run context of the server ``item`` runs on (its ``ollama_host`` parameter)."""
        callspec = getattr(item, "callspec", None)
        url = callspec.params.get(HOST_PARAM) if callspec is not None else None
        return self.runtime.host(url)

    def make_bench(self, item: pytest.Item, model: str | None) -> OllamaBench:
        """The ``ollama_bench`` fixture's value for ``item``."""
        from .fixture import OllamaBench
        from .sizing import Calibrations

        def attach(record: CallRecord | LoadRecord) -> None:
            item.stash.setdefault(records_key, []).append(record)

        host = self.host_of(item)
        calibrations = self.calibrations.setdefault(host.settings.host, Calibrations())

        def available(models: Sequence[str], some: bool = False) -> list[str]:
            return self.ensure_available(models, host, item=item if some else None)

        return OllamaBench(
            nodeid=item.nodeid,
            model=model,
            spec=item.stash.get(spec_key, None) or BenchSpec(),
            settings=host.settings,
            runner=host,
            ensure_available=available,
            attach=attach,
            host=host.display_host,
            progress=self.progress.round_done if self.progress is not None else None,
            calibrations=calibrations,
        )

    def ensure_available(
        self, models: Sequence[str], host: HostRuntime, item: pytest.Item | None = None
    ) -> list[str]:
        """The models of ``models`` the server ``host`` has.

        Without ``item``, every model must be there: the test is skipped (or, under
        ``--ollama-require``, failed) otherwise. With ``item`` (``compare()``), each missing
        model is recorded as a skipped case of ``item`` with its reason and the others run;
        the test is skipped only when none is there.
        """
        reasons = {m: r for m in models if (r := host.catalog.missing([m])) is not None}
        if not reasons:
            return list(models)
        first = next(iter(reasons.values()))
        if self.settings.require:
            pytest.fail(f"{first} (--ollama-require is set)", pytrace=False)
        present = [m for m in models if m not in reasons]
        if item is None or not present:
            skip_here(first)
        from .models import CaseRecord

        shown = self._shown_host(item)
        skipped = [
            CaseRecord(
                nodeid=item.nodeid, test=item.nodeid, model=m, host=shown, outcome="skipped",
                error=r,
            )
            for m, r in reasons.items()
        ]  # fmt: skip
        item.stash.setdefault(cases_key, []).extend(skipped)
        return present

    # ----------------------------------------------------------------- running

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        marker = item.get_closest_marker(MARKER)
        if marker is None and FIXTURE not in getattr(item, "fixturenames", ()):
            return
        callspec = getattr(item, "callspec", None)
        model = callspec.params.get(MODEL_PARAM) if callspec is not None else None
        item.stash[meta_key] = transport.Payload(
            test=_test_id(item, model, self._label(item)), model=model, host=self._shown_host(item)
        )
        if marker is None:  # the fixture alone: a call without a model says how to select one
            if model is not None:
                self.ensure_available([model], self.host_of(item))
            return
        error: str | None = None
        try:
            spec = parse_marker(marker.args, marker.kwargs)
        except MarkerError as exc:
            error = str(exc)  # failed outside the except: one traceback, not two chained
        if error is not None:
            if model is None:  # a test run once: its error shows for each selected model
                from .models import CaseRecord

                host = self._shown_host(item)
                item.stash[cases_key] = [
                    CaseRecord(
                        nodeid=item.nodeid, test=item.nodeid, model=m, host=host,
                        outcome="error", error=error,
                    )
                    for m in self.settings.models
                ]  # fmt: skip
            pytest.fail(error, pytrace=False)
        item.stash[spec_key] = spec
        if model is None and not calls_compare(getattr(item, "function", None)):
            skip_here(
                "no model selected for this benchmark: run pytest --ollama-models=NAME[,NAME] "
                "(or set ollama_models in the ini file or PYTEST_OLLAMA_MODELS), or use "
                "@pytest.mark.llm_bench(models=[...])"
            )
        if model is not None:
            self.ensure_available([model], self.host_of(item))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        # setup stashed the spec of every marked test: no second marker lookup per test
        sampler = None
        if spec_key in item.stash or FIXTURE in getattr(item, "fixturenames", ()):
            from .resources import ResourceSampler

            host = self.host_of(item).settings.host
            sampler = ResourceSampler(track_ollama=is_loopback(host)).start()
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
        records = item.stash.get(records_key, [])
        resources = None
        if sampler is not None:
            resources = sampler.stop()
            if records:
                vram, size = self.host_of(item).loaded_model_memory(records[-1].model)
                if vram is not None or size is not None:
                    resources = resources.model_copy(
                        update={"vram_mb": vram, "model_size_mb": size}
                    )
        if not records:
            return
        del item.stash[records_key]
        cases = self._gated(item, self._cases(item, records, resources))
        item.stash.setdefault(cases_key, []).extend(cases)
        from .junit import PREFIX
        from .junit import junit_properties

        # a rerun (pytest-rerunfailures) reports this attempt's numbers only
        item.user_properties[:] = [
            p for p in item.user_properties if not str(p[0]).startswith(PREFIX)
        ]
        for case in cases:
            item.user_properties.extend(junit_properties(case))
        missed = [g.message for case in cases for g in case.gates if not g.passed]
        if not missed:
            return
        failures = _check_failures(cases)
        details = ""
        if failures:
            details = "\nanswers that failed check=:\n" + "\n".join(f"  {f}" for f in failures)
        if body_failed:
            text = "benchmark gate(s) missed:\n" + "\n".join(f"  {m}" for m in missed)
            item.add_report_section("call", "ollama-bench gates", text + details)
            return
        # one line: the short test summary, the summary table and the step summary show the
        # first line of a failure, so the misses themselves go there (answers that failed a
        # check= follow on lines of their own)
        pytest.fail("benchmark gate(s) missed: " + "; ".join(missed) + details, pytrace=False)

    def _cases(
        self, item: pytest.Item, records: list[CallRecord | LoadRecord], resources: Any = None
    ) -> list[CaseRecord]:
        from .collect import build_cases

        meta = item.stash.get(meta_key, None)
        catalog = self.host_of(item).catalog

        def details(model: str) -> ModelDetails | None:
            return catalog.find(model)

        return build_cases(
            nodeid=item.nodeid,
            test=meta.test if meta is not None else item.nodeid,
            fanned_model=meta.model if meta is not None else None,
            records=records,
            details=details,
            resources=resources,
            host=self._shown_host(item),
        )

    def _label(self, item: pytest.Item) -> str | None:
        """The id label of ``item``'s server when the session has several, else None."""
        if not self.labels:
            return None
        return self.labels.get(self.host_of(item).settings.host)

    def _shown_host(self, item: pytest.Item) -> str | None:
        """``item``'s server as records show it (no credentials) when the session has
        several, else None."""
        return self.host_of(item).display_host if self.labels else None

    def _gated(self, item: pytest.Item, cases: list[CaseRecord]) -> list[CaseRecord]:
        from .gates import case_gates
        from .gates import merge_rules
        from .gates import option_rules

        spec = item.stash.get(spec_key, None) or BenchSpec()
        rules = merge_rules(spec.gates, option_rules(self.settings))
        if self.settings.smoke:  # --ollama-smoke: one cold round proves nothing about speed,
            rules = [r for r in rules if r.metric == "pass_rate"]  # but answers still count
        out = []
        for case in cases:
            gates = case_gates(case, rules, default_stat=spec.stat)
            out.append(case.model_copy(update={"gates": gates}) if gates else case)
        return out

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.progress is not None:  # before pytest writes the test's result
            self.progress.clear()

    def pytest_keyboard_interrupt(self) -> None:
        if self.progress is not None:
            self.progress.clear()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        meta = item.stash.get(meta_key, None)
        cases = item.stash.get(cases_key, [])
        stray = item.stash.get(records_key, [])  # calls made by fixtures in setup/teardown
        if stray:
            del item.stash[records_key]
            cases = [*cases, *self._cases(item, stray)]
        if meta is None and not cases:
            return report
        if cases_key in item.stash:
            del item.stash[cases_key]
        payload = meta or transport.Payload(test=item.nodeid, model=None)
        transport.attach(
            report,
            transport.Payload(
                test=payload.test,
                model=payload.model,
                cases=[c.model_dump(mode="json") for c in cases],
                host=payload.host,
            ),
        )
        return report


def _check_failures(cases: Sequence[CaseRecord], limit: int = 5) -> list[str]:
    """The first ``limit`` measured answers whose ``check=`` failed, with why."""
    lines: list[str] = []
    for case in cases:
        if not any(g.metric == "pass_rate" and not g.passed for g in case.gates):
            continue
        measured = [m for call in case.calls for m in call.rounds if not m.warmup]
        for number, m in enumerate(measured, 1):
            if m.pass_rate == 0.0 and len(lines) < limit:
                answer = m.text if len(m.text) <= 80 else m.text[:79] + "…"
                lines.append(f"{case.model} round {number}: {m.check_error} (answer: {answer!r})")
    return lines


def calls_compare(function: object) -> bool:
    """Whether a test function's code calls a ``compare`` attribute (``ollama_bench.compare``).

    Such a test runs several models itself, so it is not run once per model. Read from the
    names its code (and the code nested in it) uses.
    """
    code = getattr(function, "__code__", None)
    stack = [code] if isinstance(code, CodeType) else []
    while stack:
        current = stack.pop()
        if "compare" in current.co_names:
            return True
        stack.extend(c for c in current.co_consts if isinstance(c, CodeType))
    return False


def _test_id(item: pytest.Item, model: str | None, host: str | None = None) -> str:
    """``item``'s node id without the model (and server) parameter: the row group of the
    summary."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or (model is None and host is None):
        return item.nodeid
    suffix = f"[{callspec.id}]"
    base = item.nodeid[: -len(suffix)] if item.nodeid.endswith(suffix) else item.nodeid
    rest = callspec.id
    for part in (host, model):
        if part is None:
            continue
        for pattern in (f"{part}-", f"-{part}"):
            if pattern in f"-{rest}-":
                rest = f"-{rest}-".replace(pattern, "-", 1).strip("-")
                break
        else:
            rest = "" if rest == part else rest
    return f"{base}[{rest}]" if rest else base
