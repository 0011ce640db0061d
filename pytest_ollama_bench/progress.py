"""Progress while benchmarks run: a line per round under ``-v``, an in-place status on a TTY.

A long benchmark (20 rounds on a real model) is minutes without output otherwise. Under ``-v``
each completed round prints a line below the test's name (model, round i/n, ttft, total,
tok/s), and pytest then prints the test's name again with its result. At the default
verbosity, on a terminal, one status after the progress dots is rewritten in place and erased
before pytest writes the test's letter; when the output is not a terminal (CI logs, pipes)
nothing extra is printed. On pytest-xdist workers nothing is printed: the controller shows
the results as they come.

Rounds complete on the plugin's loop thread (sync calls, while the test waits) or on the
test's own loop (async calls); the writes are serialised, and pytest's output capture is
suspended around them as pytest's live logging does.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .models import Measurement

__all__ = ["ProgressReporter", "round_text"]

#: Erase from the cursor to the end of the line (ECMA-48 EL), and move the cursor back.
_ERASE = "\x1b[K"


def round_text(measurement: Measurement, number: int, of: int) -> str:
    """``llama3.2 round 2/20: ttft 357.6 ms, total 548.7 ms, 60.4 tok/s`` for one round."""
    phase = "warmup" if measurement.warmup else "round"
    ttft = "-" if measurement.ttft_ms is None else f"{measurement.ttft_ms:.1f} ms"
    rate = "" if measurement.tokens_per_s is None else f", {measurement.tokens_per_s:.1f} tok/s"
    return (
        f"{measurement.model} {phase} {number}/{of}: ttft {ttft}, "
        f"total {measurement.total_ms:.1f} ms{rate}"
    )


class ProgressReporter:
    """Shows each completed round (see the module); does nothing where nothing should show."""

    def __init__(self, config: pytest.Config) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        worker = hasattr(config, "workerinput")
        verbosity = config.get_verbosity()
        self._config = config
        self._reporter: pytest.TerminalReporter | None = None if worker else reporter
        self._lines = self._reporter is not None and verbosity >= 1
        self._status = self._reporter is not None and verbosity == 0 and bool(self._reporter.isatty)
        self._shown = 0  # width of the in-place status on screen, 0 when none is
        self._below = False  # round lines written below the test's name
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        """Whether rounds are shown at all."""
        return self._lines or self._status

    @contextlib.contextmanager
    def _terminal(self) -> Iterator[None]:
        capture = self._config.pluginmanager.get_plugin("capturemanager")
        with self._lock:
            if capture is None:
                yield
            else:
                with capture.global_and_fixture_disabled():
                    yield

    def round_done(self, measurement: Measurement, number: int, of: int) -> None:
        """Show that ``measurement``, round ``number`` of ``of`` of its kind, completed."""
        if not self.active or self._reporter is None:
            return
        text = round_text(measurement, number, of)
        with self._terminal():
            if self._lines:
                # below the test's name; the last line is ended by pytest itself, which then
                # writes the test's name again with its result (see clear())
                self._reporter.write(f"\n    {text}", flush=True)
                self._below = True
            else:
                self._show_status(text)

    def _show_status(self, text: str) -> None:
        writer = self._config.get_terminal_writer()
        room = writer.fullwidth - writer.width_of_current_line - 2
        status = f" [{text}]"
        if room < 12:
            return
        if len(status) > room:
            status = status[: room - 2] + "…]"
        # written past pytest's terminal writer, so its idea of the line (the dots) stays
        # true: the cursor goes back to where it was, and the status is erased from there
        sys.stdout.write(f"{_ERASE}{status}\x1b[{len(status)}D")
        sys.stdout.flush()
        self._shown = len(status)

    def clear(self) -> None:
        """Before pytest writes the test's result: erase the in-place status; after round
        lines, have pytest start a line of its own with the test's name (so ``-v`` output keeps
        its ``test_x[llama3.2] PASSED`` lines)."""
        if self._below and self._reporter is not None:
            self._below = False
            self._reporter.currentfspath = None  # pytest ends the line and writes the name
        if not self._shown:
            return
        with self._terminal():
            sys.stdout.write(_ERASE)
            sys.stdout.flush()
            self._shown = 0
