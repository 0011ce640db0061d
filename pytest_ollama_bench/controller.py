"""The controller's hooks: collect every benchmark case from the reports, then finish the run.

Registered by ``plugin.py`` only on the process that reports (not on xdist workers): it reads
the payload each report carries (:mod:`.transport`), and at session end builds, compares and
saves the run record and prints the summary (:mod:`.finish`). While it does, Ctrl-C is held
(:func:`ctrl_c_held`), so a second Ctrl-C after an interrupt cannot cost the record.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Generator
from collections.abc import Iterator
from types import FrameType
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

__all__ = ["Controller", "ctrl_c_held"]

HELD_NOTE = (
    "ollama-bench: Ctrl-C was held until the run record was written and the summary shown "
    "(press it twice to abort instead)"
)


@contextlib.contextmanager
def ctrl_c_held() -> Iterator[list[int]]:
    """Hold one Ctrl-C (SIGINT) while the session finishes: the record is built, saved and shown.

    A session interrupted by Ctrl-C is already ending; a second Ctrl-C while it writes the record
    of what completed (reading ``git``, writing files) would otherwise cost that record and print
    a traceback from the middle of it. The first Ctrl-C in the block is held (yields the list it
    is appended to, for a note afterwards); another one interrupts as usual. Only on the main
    thread and when Python's own Ctrl-C handling is in place (a handler someone else installed
    is left alone).
    """
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        yield held
        return

    def hold(signum: int, frame: FrameType | None) -> None:
        if held:  # pressed again: the user means it
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        held.append(signum)

    signal.signal(signal.SIGINT, hold)
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)


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
        (``4 passed in 5.46s``) say why the session failed when regressions failed it.

        Ctrl-C is held meanwhile (:func:`ctrl_c_held`)."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        with ctrl_c_held() as held:
            self._finish(session, exitstatus)
            result = yield
            regressions = self.output.regressions if self.output is not None else []
            if regressions and reporter is not None:
                metrics = ", ".join(dict.fromkeys(r.rule.metric for r in regressions))
                count = f"{len(regressions)} regression{'s' if len(regressions) != 1 else ''}"
                width = output_width(
                    self.config.get_terminal_writer().fullwidth, self.config.get_verbosity()
                )
                text = f"ollama-bench: session failed: {count} ({metrics}) against the baseline"
                for line in wrap(text, width):
                    reporter.write_line(line, red=True, bold=True)
        if held and reporter is not None:
            reporter.write_line(HELD_NOTE, yellow=True)
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
