"""What a session leaves behind: the JSON record, the terminal summary, CI outputs.

Called on the controller only, at session finish. No pytest import: the terminal reporter is
reached through the small :class:`Terminal` protocol.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from collections.abc import Sequence
from datetime import datetime
from datetime import timezone
from pathlib import Path
from typing import Protocol

from . import __version__
from .exports import export_text
from .fit import wrap
from .models import CaseRecord
from .models import Report
from .regression import Regression
from .regression import find_regressions
from .report import render_markdown
from .report import render_summary
from .settings import Settings
from .storage import BaselineNotFound
from .storage import InvalidReport
from .storage import RunStore
from .storage import write_json_atomic
from .sysinfo import git_info
from .sysinfo import system_info

__all__ = ["SessionOutput", "Terminal"]

INTERRUPTED = 2


class Terminal(Protocol):
    """The part of pytest's terminal reporter the summary uses."""

    def write_sep(self, sep: str, title: str | None = None, **markup: bool) -> None: ...

    def write_line(self, line: str | bytes, **markup: bool) -> None: ...


class SessionOutput:
    """Builds the run's :class:`Report`, saves it, and prints it.

    :param rootdir: where the default history (``.ollama-bench/``) lives.
    :param fetch_version: returns the server's version, or None when it cannot be read.
    """

    def __init__(
        self,
        settings: Settings,
        display_host: str,
        *,
        rootdir: Path,
        verbosity: int,
        fetch_version: Callable[[], str | None],
    ) -> None:
        self.settings = settings
        self.display_host = display_host
        self.rootdir = rootdir
        self.verbosity = verbosity
        self.fetch_version = fetch_version
        self.report: Report | None = None
        self.baseline: Report | None = None
        self.regressions: list[Regression] = []
        self.notes: list[str] = []
        self.warnings: list[str] = []

    def _store(self) -> RunStore:
        root = Path(self.settings.storage_dir)
        return RunStore(root if root.is_absolute() else self.rootdir / root)

    def finish(self, cases: Sequence[CaseRecord], exitstatus: int) -> Report:
        """Build, compare and save the report; returns it."""
        report = Report(
            plugin_version=__version__,
            created_at=datetime.now(timezone.utc),
            host=self.display_host,
            api=self.settings.api,
            ollama_version=self.fetch_version() or None,
            system=system_info(),
            git=git_info(self.rootdir),
            settings=dataclasses.replace(self.settings, host=self.display_host),
            interrupted=exitstatus == INTERRUPTED,
            exit_status=exitstatus,
            cases=list(cases),
        )
        self.report = report
        if self.settings.smoke:  # numbers of one cold round prove only that it ran
            self.notes.append(
                "smoke run (--ollama-smoke): one round, no warmup, no gates; nothing recorded, "
                "compared or exported"
            )
            return report
        self._compare(report)
        self._save(report)
        self._export(report)
        self._html(report)
        self._step_summary(report)
        return report

    def _html(self, report: Report) -> None:
        if self.settings.html_path is None:
            return
        from .htmlreport.page import render_html  # pygal only when a page is asked for

        path = Path(self.settings.html_path)
        in_store = self.settings.save and self.settings.json_path is None  # this run is there
        history = self._store().recent(self.settings.html_history - (not in_store))
        try:
            page = render_html(
                report, history=history, baseline=self.baseline, regressions=self.regressions
            )
        except Exception as exc:  # a page that cannot be drawn must not cost the session
            self.warnings.append(f"cannot build the HTML report: {type(exc).__name__}: {exc}")
            return
        try:
            write_json_atomic(path, page)
        except OSError as exc:
            self.warnings.append(f"cannot write the HTML report to {path}: {exc}")
            return
        self.notes.append(f"HTML report written to {path}")

    def _compare(self, report: Report) -> None:
        ref = self.settings.compare
        if ref is None:
            return
        try:
            self.baseline = self._store().load(ref)
        except (BaselineNotFound, InvalidReport) as exc:
            self.warnings.append(
                f"no baseline to compare with ({exc}); this run will be the baseline of the next"
                if isinstance(exc, BaselineNotFound)
                else f"baseline {ref!r} cannot be read: {exc}"
            )
            return
        if self.settings.compare_fail:
            self.regressions = find_regressions(report, self.baseline, self.settings.compare_fail)

    def _save(self, report: Report) -> None:
        """The run history (unless ``--ollama-no-save``) and ``--ollama-json``'s file too."""
        if self.settings.save:
            path = self._store().save(report)
            self.notes.append(f"run record written to {_shown(path)}")
        if self.settings.json_path is not None:
            path = Path(self.settings.json_path)
            write_json_atomic(path, report.model_dump_json(indent=2) + "\n")
            self.notes.append(f"run record written to {_shown(path)}")

    def _export(self, report: Report) -> None:
        """``--ollama-export FORMAT=PATH`` files; a file that cannot be written is a warning."""
        for fmt, target in self.settings.exports:
            path = Path(target)
            text = export_text(report, fmt)
            if fmt.startswith("github-") and text.strip() == "[]":
                self.warnings.append(
                    f"{fmt} export {_shown(path)} has no entries (no such metric was measured); "
                    "github-action-benchmark rejects an empty file"
                )
            try:
                write_json_atomic(path, text)
            except OSError as exc:
                self.warnings.append(f"cannot write the {fmt} export {path}: {exc}")
                continue
            self.notes.append(f"{fmt} export written to {_shown(path)}")

    def _step_summary(self, report: Report) -> None:
        target = os.environ.get("GITHUB_STEP_SUMMARY")
        if not target:
            return
        markdown = render_markdown(report, baseline=self.baseline)
        if self.regressions:
            markdown += "\n**Regressions against the baseline:**\n\n" + "".join(
                f"- {r.message}\n" for r in self.regressions
            )
        try:
            with open(target, "a", encoding="utf-8") as fh:
                fh.write(markdown + "\n")
        except OSError as exc:
            self.warnings.append(f"cannot append to GITHUB_STEP_SUMMARY {target!r}: {exc}")

    def terminal(self, tr: Terminal, width: int | None = None) -> None:
        """Print the summary tables, warnings, regressions and where the record went.

        :param width: the terminal's width: no line printed is wider (tables leave out
            columns, long lines are wrapped); ``None``: no limit.
        """
        if self.report is None:
            return
        lines = render_summary(
            self.report,
            columns=self.settings.columns,
            sort=self.settings.sort,
            verbosity=self.verbosity,
            baseline=self.baseline,
            width=width,
        )
        if lines:
            tr.write_sep("=", "ollama-bench summary")
            for line in lines:
                tr.write_line(line)
        for warning in self.warnings:
            for line in wrap(f"ollama-bench: warning: {warning}", width):
                tr.write_line(line, yellow=True)
        if self.regressions:
            tr.write_sep("=", "ollama-bench regressions", red=True)
            for regression in self.regressions:
                for line in wrap(regression.message, width):
                    tr.write_line(line, red=True)
        if self.verbosity >= 0:
            for note in self.notes:
                for line in wrap(f"ollama-bench: {note}", width):
                    tr.write_line(line)


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when it is inside it (as pytest shows paths)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except (OSError, ValueError):
        return path
