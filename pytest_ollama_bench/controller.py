"""The controller's hooks: collect every benchmark case from the reports, then finish the run.

Registered by ``plugin.py`` only on the process that reports (not on xdist workers): it reads
the payload each report carries (:mod:`.transport`), and at session end builds, compares and
saves the run record and prints the summary (:mod:`.finish`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

from . import transport
from .fit import output_width
from .fit import wrap
from .settings import Settings

if TYPE_CHECKING:
    from .baseline import Baseline
    from .collect import CaseCollector
    from .finish import SessionOutput
    from .runtime import Runtime

__all__ = ["Controller"]


class Controller:
    """Collects the session's cases and writes what the session leaves behind."""

    def __init__(self, config: pytest.Config, settings: Settings, runtime: Runtime) -> None:
        self.config = config
        self.settings = settings
        self.runtime = runtime
        self._collector: CaseCollector | None = None
        self.output: SessionOutput | None = None
        self.baseline: Baseline | None = None
        if settings.compare is not None:
            from .finish import BaselineError
            from .finish import load_baseline

            try:  # a baseline the user named must exist and be readable: say so now
                self.baseline = load_baseline(settings, config.rootpath)
            except BaselineError as exc:
                raise pytest.UsageError(str(exc)) from None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = transport.read(report)
        if payload is None:  # the common case: not a benchmark
            crashed = report.failed and report.when not in ("setup", "call", "teardown")
            if crashed:  # pytest-xdist: the worker died
                if self._collector is None:
                    from .collect import CaseCollector

                    self._collector = CaseCollector()
                self._collector.crashed(report.nodeid, _error_text(report), self.settings.models)
            return
        if self._collector is None:
            from .collect import CaseCollector

            self._collector = CaseCollector()
        error = None
        if report.failed or report.skipped:
            error = _skip_reason(report) if report.skipped else _error_text(report)
        self._collector.add(
            nodeid=report.nodeid,
            when=report.when,
            outcome=report.outcome,
            payload=payload,
            error=error,
            duration=report.duration,
        )

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, None, None]:
        """Finish the run before pytest's summary; after pytest's last line
        (``4 passed in 5.46s``) say why the session failed when regressions failed it."""
        self._finish(session, exitstatus)
        result = yield
        regressions = self.output.regressions if self.output is not None else []
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if regressions and reporter is not None:
            metrics = ", ".join(dict.fromkeys(r.rule.metric for r in regressions))
            count = f"{len(regressions)} regression{'s' if len(regressions) != 1 else ''}"
            width = output_width(
                self.config.get_terminal_writer().fullwidth, self.config.get_verbosity()
            )
            text = f"ollama-bench: session failed: {count} ({metrics}) against the baseline"
            for line in wrap(text, width):
                reporter.write_line(line, red=True, bold=True)
        return result

    def _finish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self._collector:
            return
        from .finish import SessionOutput

        self.output = SessionOutput(
            self.settings,
            self.runtime.display_host,
            rootdir=self.config.rootpath,
            verbosity=self.config.get_verbosity(),
            fetch_version=self.runtime.server_version,
            baseline=self.baseline,
        )
        self.output.finish(self._collector.cases(), int(exitstatus))
        if self.output.regressions and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.output is not None:
            width = output_width(
                self.config.get_terminal_writer().fullwidth, self.config.get_verbosity()
            )
            self.output.terminal(terminalreporter, width)


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
