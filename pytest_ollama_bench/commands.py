"""What the command line's commands do with saved runs, and the demo.

``cli.py`` parses the arguments and dispatches here. No pytest import. A problem to report to
the user is :class:`CommandError` (the command line prints it and exits with status 2).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .baseline import recorded_baseline
from .exports import export_text
from .fit import Cut
from .fit import TableColumn
from .fit import fit_table
from .fit import wrap
from .local import install_local
from .models import RegressionRecord
from .models import Report
from .regression import Regression
from .regression import find_regressions
from .regression import parse_compare_fail
from .storage import RunStore
from .storage import load_report
from .storage import write_json_atomic
from .table import run_line

__all__ = [
    "DEMO_DIR",
    "CommandError",
    "demo_command",
    "export_command",
    "html_command",
    "list_command",
    "load_run",
    "run_demo",
    "show_header",
    "write_lines",
]


class CommandError(Exception):
    """A problem to report on stderr with exit status 2."""


def load_run(store: RunStore, ref: str) -> Report:
    """The saved run ``ref`` names (a path, ``latest`` or a number).

    :raises CommandError: it cannot be found or read.
    """
    try:
        return store.load(ref)
    except ValueError as exc:  # BaselineNotFound, InvalidReport
        raise CommandError(str(exc)) from None


def write_lines(out: TextIO, lines: Sequence[str]) -> None:
    """Write ``lines``, each ended by a newline."""
    out.write("".join(f"{line}\n" for line in lines))


def list_command(store: RunStore, out: TextIO, width: int | None) -> None:
    """``list``: one row per saved run (when, host, models, outcomes), fitted to ``width``."""
    runs = store.runs()
    if not runs:
        out.write(f"no saved runs in {shown(store.runs_dir)}\n")
        return
    rows: list[list[str]] = []
    unreadable: dict[int, str] = {}  # row position -> the line shown instead
    for path in runs:
        number = path.name.split("_", 1)[0]
        try:
            report = load_report(path)
        except ValueError as exc:
            unreadable[len(rows) + len(unreadable)] = f"{number}  (unreadable: {exc})"
            continue
        outcomes = [c.outcome for c in report.cases]
        models = list(dict.fromkeys(c.model for c in report.cases))
        rows.append(
            [
                number,
                report.created_at.isoformat(timespec="seconds"),
                report.host,
                ", ".join(models) or "-",
                str(len(report.cases)),
                str(outcomes.count("passed")),
                str(outcomes.count("failed") + outcomes.count("error")),
                str(shown(path)),
            ]
        )
    # (header, align, priority: None stays, larger numbers leave first, cut, narrowest)
    layout: list[tuple[str, str, float | None, Cut | None, int]] = [
        ("run", "left", None, None, 0),
        ("created_at", "left", None, None, 0),
        ("host", "left", 4, "middle", 16),
        ("models", "left", 1, "right", 16),
        ("cases", "right", 3, None, 0),
        ("passed", "right", 2, None, 0),
        ("failed", "right", 2, None, 0),
        ("file", "left", 5, "left", 16),
    ]
    columns = [
        TableColumn(header, [row[i] for row in rows], align, priority, header, cut, narrowest)
        for i, (header, align, priority, cut, narrowest) in enumerate(layout)
    ]
    fitted = fit_table(columns, width, tablefmt="plain") if rows else None
    lines = [] if fitted is None else fitted.lines[:1]
    table_rows = iter([] if fitted is None else fitted.lines[1:])
    for position in range(len(rows) + len(unreadable)):
        if position in unreadable:
            lines += wrap(unreadable[position], width)
        else:
            lines.append(next(table_rows))
    if fitted is None:
        write_lines(out, lines)
        return
    if fitted.dropped and width is not None:
        names = ", ".join(c.header for c in fitted.dropped)
        lines += wrap(f"left out to fit {width} characters: {names} (--width 0: no limit)", width)
    write_lines(out, lines)


def shown(path: Path) -> Path:
    """``path`` relative to the working directory when that is shorter (``../runs/...``)."""
    try:
        relative = Path(os.path.relpath(path.resolve(), Path.cwd().resolve()))
    except (OSError, ValueError):  # another drive on Windows
        return path
    return relative if len(str(relative)) < len(str(path)) else path


def show_header(store: RunStore, ref: str, report: Report, width: int | None) -> list[str]:
    """The lines naming the run ``show`` prints: its number and file, then when, where, what."""
    try:
        path = shown(store.resolve(ref))
        number = path.name.split("_", 1)[0]
        name = f"run {number} ({path})" if number.isdigit() else f"run {path}"
    except ValueError:
        name = f"run {ref}"
    return wrap(f"{name}: {run_line(report)}", width)


#: The demo suite, shipped inside the package so that ``demo`` works from a pip install.
DEMO_DIR = Path(__file__).resolve().parent / "demo"


def demo_command(
    examples: str | None, extra: Sequence[str], models: str | None = None
) -> list[str]:
    """The pytest command ``demo`` runs: on the embedded model, or on ``models`` of the
    Ollama server ``OLLAMA_HOST`` names.

    The shipped suite runs with its own ``pytest.ini`` (not the settings of the project the
    command is run in) and the working directory as rootdir, so the run history is written
    here, not into the installed package, and ``show``/``list`` find it afterwards.
    """
    pytest = [sys.executable, "-m", "pytest"]
    server = ["--ollama-embedded"] if models is None else [f"--ollama-models={models}"]
    if examples is not None:
        return [*pytest, examples, *server, *extra]
    # pytest-asyncio, when installed, would warn about its unset settings: the demo needs no
    # async runner (see its test_async.py)
    settings = ["-c", str(DEMO_DIR / "pytest.ini"), "--rootdir", ".", "-p", "no:asyncio"]
    return [*pytest, str(DEMO_DIR), *settings, *server, *extra]


def run_demo(args: argparse.Namespace) -> int:
    """``demo``: install what local inference needs (unless ``--models``), then run pytest."""
    extra = [a for a in args.pytest_args if a != "--"]
    if args.examples is not None and args.examples.startswith("-"):  # demo -- -x: no DIR
        args.examples, extra = None, [args.examples, *extra]
    if args.examples is not None and not Path(args.examples).is_dir():
        raise CommandError(
            f"no directory {args.examples!r}: pass the directory of your benchmark tests, or "
            "nothing for the demo suite shipped with pytest-ollama-bench"
        )
    if args.models is None:
        status = install_local()
        if status:
            raise CommandError(f"installing the local packages failed (pip exit status {status})")
    command = demo_command(args.examples, extra, args.models)
    print("running:", " ".join(command), flush=True)
    return subprocess.call(command)


def _regression(record: RegressionRecord) -> Regression:
    """A recorded regression as the one the session found."""
    return Regression(
        nodeid=record.nodeid,
        model=record.model,
        rule=parse_compare_fail(record.rule),
        current=record.current,
        baseline=record.baseline,
        message=record.message,
    )


def export_command(
    args: argparse.Namespace, store: RunStore, out: TextIO, width: int | None = None
) -> None:
    """``export``: a saved run as CSV or github-action-benchmark JSON, on stdout, or to
    ``--output`` with one line saying what was written (in lines of at most ``width``)."""
    text = export_text(load_run(store, args.ref), args.format)
    if args.output is None:
        out.write(text)
        return
    try:
        write_json_atomic(args.output, text)
    except OSError as exc:
        raise CommandError(f"cannot write {args.output}: {exc}") from None
    try:
        run = str(shown(store.resolve(args.ref)))
    except ValueError:  # it was read a moment ago; named as given if it cannot be found again
        run = args.ref
    size = len(text.encode("utf-8")) / 1024
    done = f"{args.format} export of {run} written to {args.output} ({size:.0f} KiB)"
    out.write("".join(line + "\n" for line in wrap(done, width)))


def html_command(
    args: argparse.Namespace, store: RunStore, out: TextIO, width: int | None = None
) -> None:
    """``html``: the HTML report of saved runs, rebuilt as the session built it; says what it
    wrote in lines of at most ``width`` characters."""
    from .htmlreport import missing_dependency

    if (problem := missing_dependency()) is not None:
        raise CommandError(problem)
    from .htmlreport.page import render_html

    try:
        paths = [store.resolve(ref) for ref in args.runs or ["latest"]]
        report = load_report(paths[-1])
        if len(paths) > 1:
            history = [(p.stem.split("_", 1)[0], load_report(p)) for p in paths]
        else:
            history = store.recent(args.history, until=paths[-1])
        baseline: Report | None = None
        rules = report.settings.compare_fail
        if args.baseline is not None:  # another baseline than the run's: its regressions anew
            baseline = store.load(args.baseline)
            regressions = find_regressions(report, baseline, rules) if rules else []
        else:  # what the run was compared with, and the regressions it recorded
            chosen = recorded_baseline(store, report)
            baseline = None if chosen is None else chosen.as_report()
            regressions = [_regression(r) for r in report.regressions]
    except ValueError as exc:  # BaselineNotFound, InvalidReport
        raise CommandError(str(exc)) from None
    page = render_html(report, history=history, baseline=baseline, regressions=regressions)
    try:
        write_json_atomic(args.output, page)
    except OSError as exc:
        raise CommandError(f"cannot write the HTML report to {args.output}: {exc}") from None
    size = len(page.encode("utf-8")) / 1024
    done = f"HTML report of {paths[-1]} written to {args.output} ({size:.0f} KiB)"
    out.write("".join(line + "\n" for line in wrap(done, width)))
