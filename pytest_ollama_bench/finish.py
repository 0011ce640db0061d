"""What a session leaves behind: the JSON record, the terminal summary, CI outputs.

Called on the controller only, at session finish. No pytest import: the terminal reporter is
reached through the small :class:`Terminal` protocol.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from collections.abc import Sequence
from datetime import datetime
from datetime import timezone
from pathlib import Path
from typing import Protocol

from . import __version__
from .baseline import Baseline
from .baseline import BaselineError
from .baseline import describe_missing
from .baseline import differences
from .baseline import is_explicit
from .baseline import load_explicit
from .baseline import select_implicit
from .exports import export_text
from .fit import wrap
from .models import CaseRecord
from .models import RegressionRecord
from .models import Report
from .regression import Regression
from .regression import find_regressions
from .report import render_markdown
from .report import render_summary
from .settings import Settings
from .storage import RunStore
from .storage import write_json_atomic
from .sysinfo import git_info
from .sysinfo import system_info

__all__ = ["BaselineError", "SessionOutput", "Terminal", "load_baseline", "storage_root"]

INTERRUPTED = 2


def storage_root(settings: Settings, rootdir: Path) -> Path:
    """The run history's directory: ``--ollama-storage``, relative to pytest's rootdir."""
    root = Path(settings.storage_dir)
    return root if root.is_absolute() else rootdir / root


def load_baseline(settings: Settings, rootdir: Path) -> Baseline | None:
    """The explicit baseline ``--ollama-compare REF`` names, loaded at start-up; None for none
    or the implicit one (selected at the end, per case).

    :raises BaselineError: ``REF`` does not resolve or its file cannot be read as a report.
    """
    if not is_explicit(settings.compare):
        return None
    assert settings.compare is not None
    return load_explicit(RunStore(storage_root(settings, rootdir)), settings.compare.strip())


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


class Terminal(Protocol):
    """The part of pytest's terminal reporter the summary uses."""

    def write_sep(self, sep: str, title: str | None = None, **markup: bool) -> None: ...

    def write_line(self, line: str | bytes, **markup: bool) -> None: ...


class SessionOutput:
    """Builds the run's :class:`Report`, compares it with its baseline, saves it, and prints it.

    :param rootdir: where the default history (``.ollama-bench/``) lives.
    :param fetch_version: returns the server's version, or None when it cannot be read; not
        called after an interrupt.
    :param baseline: an explicit baseline loaded at start-up (see :func:`load_baseline`); None
        selects the implicit one at the end when comparing.
    """

    def __init__(
        self,
        settings: Settings,
        display_host: str,
        *,
        rootdir: Path,
        verbosity: int,
        fetch_version: Callable[[], str | None],
        baseline: Baseline | None = None,
    ) -> None:
        self.settings = settings
        self.display_host = display_host
        self.rootdir = rootdir
        self.verbosity = verbosity
        self.fetch_version = fetch_version
        self.report: Report | None = None
        self.chosen: Baseline | None = baseline
        self.baseline: Report | None = None
        self.regressions: list[Regression] = []
        self.notes: list[str] = []
        self.warnings: list[str] = []

    def store(self) -> RunStore:
        """The run history (``--ollama-storage``, relative to pytest's rootdir)."""
        return RunStore(storage_root(self.settings, self.rootdir))

    def finish(self, cases: Sequence[CaseRecord], exitstatus: int) -> Report:
        """Build, compare and save the report; returns it.

        The recorded exit status is the session's, turned into 1 when the regression gate
        failed a session that had otherwise passed. After an interrupt no request is made.
        """
        interrupted = exitstatus == INTERRUPTED
        report = Report(
            plugin_version=__version__,
            created_at=datetime.now(timezone.utc),
            host=self.display_host,
            hosts=list(self.settings.redacted().hosts),
            api=self.settings.api,
            ollama_version=None if interrupted else self._version(),
            system=system_info(),
            git=git_info(self.rootdir),
            settings=self.settings.redacted(),
            name=self.settings.save_name,
            interrupted=interrupted,
            exit_status=exitstatus,
            cases=list(cases),
        )
        if self.settings.smoke:  # numbers of one cold round prove only that it ran
            self.report = report
            self.notes.append(
                "smoke run (--ollama-smoke): one round, no warmup, no gates; nothing recorded, "
                "compared or exported"
            )
            return report
        report = self._compare(report)
        if self.regressions and exitstatus == 0:
            report = report.model_copy(update={"exit_status": 1})
        self.report = report
        self._save(report)
        self._export(report)
        self._html(report)
        self._step_summary(report)
        return report

    def _version(self) -> str | None:
        try:
            return self.fetch_version() or None
        except Exception:  # the version is a nicety: never let it cost the record
            return None

    def _compare(self, report: Report) -> Report:
        if self.settings.compare is None:
            return report
        chosen = self.chosen
        if chosen is None:
            chosen = select_implicit(self.store(), [(c.nodeid, c.model) for c in report.cases])
            self.chosen = chosen
        self.warnings.extend(chosen.warnings)
        self.baseline = chosen.as_report()
        info = chosen.info(report.cases)
        if self.baseline is None:
            if not is_explicit(self.settings.compare):
                self.warnings.append(
                    "no baseline to compare with (no completed run with measurements saved in "
                    f"{self.store().runs_dir} yet); this run will be the baseline of the next"
                )
            return report.model_copy(update={"baseline": info})
        missing = describe_missing(info)
        if missing:
            self.warnings.append(f"{missing}: they are not compared")
        self.warnings.extend(differences(report, chosen))
        if self.settings.compare_fail:
            self.regressions = find_regressions(report, self.baseline, self.settings.compare_fail)
        records = [
            RegressionRecord(
                nodeid=r.nodeid,
                model=r.model,
                rule=r.rule.expr,
                metric=r.rule.metric,
                stat=r.rule.stat,
                current=r.current,
                baseline=r.baseline,
                baseline_run=chosen.sources.get((r.nodeid, r.model)),
                message=r.message,
            )
            for r in self.regressions
        ]
        return report.model_copy(update={"baseline": info, "regressions": records})

    def _save(self, report: Report) -> None:
        """The run history (unless ``--ollama-no-save``) and ``--ollama-json``'s file too.

        A path that cannot be written is a warning naming it, never a crash.
        """
        if self.settings.save:
            store = self.store()
            try:
                path = store.save(report)
            except OSError as exc:
                self.warnings.append(
                    f"cannot save the run record in {store.root}: {_why(exc)}; set "
                    "--ollama-storage to a writable directory (or --ollama-no-save)"
                )
            else:
                self.notes.append(f"run record written to {_shown(path)}")
        if self.settings.json_path is not None:
            target = Path(self.settings.json_path)
            try:
                if target.is_dir():
                    raise IsADirectoryError(errno.EISDIR, "is a directory", str(target))
                write_json_atomic(target, report.model_dump_json(indent=2) + "\n")
            except OSError as exc:
                self.warnings.append(f"cannot write the run record to {target}: {_why(exc)}")
                return
            self.notes.append(f"run record written to {_shown(target)}")

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
            self._write(path, text, f"the {fmt} export", f"{fmt} export")

    def _html(self, report: Report) -> None:
        if self.settings.html_path is None:
            return
        from .htmlreport.page import render_html  # pygal only when a page is asked for

        path = Path(self.settings.html_path)
        in_store = self.settings.save and self.settings.json_path is None  # this run is there
        history = self.store().recent(self.settings.html_history - (not in_store))
        try:
            page = render_html(
                report, history=history, baseline=self.baseline, regressions=self.regressions
            )
        except Exception as exc:  # a page that cannot be drawn must not cost the session
            self.warnings.append(f"cannot build the HTML report: {type(exc).__name__}: {exc}")
            return
        self._write(path, page, "the HTML report", "HTML report")

    def _write(self, path: Path, text: str, what: str, written: str) -> None:
        """``text`` to ``path`` atomically, noted; a path that cannot be written is a warning."""
        try:
            write_json_atomic(path, text)
        except OSError as exc:
            self.warnings.append(f"cannot write {what} to {path}: {_why(exc)}")
            return
        self.notes.append(f"{written} written to {_shown(path)}")

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
