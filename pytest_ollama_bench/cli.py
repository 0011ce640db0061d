"""Command line: ``python -m pytest_ollama_bench {schema,metrics,list,compare,show,export,...}``.

Exit status: 0 on success, 2 for a usage error or a run that cannot be found or read (the
reason goes to stderr).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from . import __version__
from .baseline import recorded_baseline
from .columns import parse_columns
from .columns import parse_sort
from .comparison import render_comparison
from .exports import FORMATS
from .exports import export_text
from .fit import Cut
from .fit import TableColumn
from .fit import fit_table
from .fit import wrap
from .local import install_local
from .locate import find_storage
from .metrics import markdown_table as metrics_table
from .models import RegressionRecord
from .models import Report
from .regression import Regression
from .regression import find_regressions
from .regression import parse_compare_fail
from .report import render_markdown
from .report import render_summary
from .settings import DEFAULT_STORAGE_DIR
from .settings import Settings
from .storage import RunStore
from .storage import load_report
from .storage import write_json_atomic
from .table import run_line

__all__ = ["build_parser", "main"]

PROG = "python -m pytest_ollama_bench"
EXIT_OK = 0
EXIT_USAGE = 2


class _Failure(Exception):
    """A problem to report on stderr with exit status 2."""


def _columns_arg(text: str) -> tuple[str, ...]:
    try:
        return parse_columns(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _sort_arg(text: str) -> str:
    try:
        return parse_sort(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _width_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of characters >= 0, got {text!r}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage",
        metavar="DIR",
        default=None,
        help=f"Directory of saved runs. Default: the one pytest uses, {DEFAULT_STORAGE_DIR} "
        "in the rootdir found from here (as pytest finds it)",
    )
    parser.add_argument(
        "--width",
        metavar="N",
        type=_width_arg,
        default=None,
        help="Most characters per line; 0 for no limit. Default: the terminal's width",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser and its subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect and compare runs saved by pytest-ollama-bench.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser("schema", help="Print the JSON schema of a saved report")
    commands.add_parser("metrics", help="Print the metric registry as a Markdown table")

    list_cmd = commands.add_parser("list", help="List saved runs")
    _add_storage(list_cmd)

    compare = commands.add_parser("compare", help="Compare two runs case by case")
    compare.add_argument("a", metavar="A", help="Reference run: PATH, 'latest' or a run number")
    compare.add_argument("b", metavar="B", help="Run compared with A: PATH, 'latest' or NNNN")
    _add_storage(compare)

    show = commands.add_parser("show", help="Print the summary tables of a saved run")
    show.add_argument(
        "ref",
        metavar="REF",
        nargs="?",
        default="latest",
        help="PATH, 'latest' or a run number. Default: %(default)r",
    )
    _add_storage(show)
    show.add_argument(
        "--columns",
        metavar="NAMES",
        type=_columns_arg,
        default=None,
        help="Comma-separated table columns",
    )
    show.add_argument("--sort", metavar="KEY", type=_sort_arg, default=None, help="Row order")
    show.add_argument(
        "--baseline",
        metavar="REF",
        default=None,
        help="Show each case's change against this run (PATH, 'latest' or a run number)",
    )
    show.add_argument(
        "--markdown", action="store_true", help="Print GitHub-flavoured Markdown instead"
    )
    show.add_argument(
        "-v", "--verbose", action="count", default=0, help="More columns; -vv: no width limit"
    )
    show.add_argument("-q", "--quiet", action="count", default=0, help="Leaderboard only")

    export = commands.add_parser(
        "export", help="Write a saved run as CSV or github-action-benchmark JSON"
    )
    export.add_argument(
        "ref",
        metavar="RUN",
        nargs="?",
        default="latest",
        help="PATH, 'latest' or a run number. Default: %(default)r",
    )
    export.add_argument(
        "--format",
        required=True,
        choices=list(FORMATS),
        help="; ".join(f"{name}: {what}" for name, what in FORMATS.items()),
    )
    export.add_argument(
        "-o", "--output", metavar="PATH", default=None, help="Write to PATH. Default: stdout"
    )
    _add_storage(export)

    html = commands.add_parser(
        "html", help="Write the HTML report of a saved run, with its history (the html extra)"
    )
    html.add_argument(
        "runs",
        metavar="RUN",
        nargs="*",
        help="PATH, 'latest' or a run number: the last is the report, any others its history "
        "(default: latest, with the saved runs before it)",
    )
    html.add_argument("-o", "--output", metavar="PATH", default="ollama-bench-report.html",
                      help="Where to write the page. Default: %(default)r")  # fmt: skip
    html.add_argument("--history", metavar="N", type=_positive, default=Settings.html_history,
                      help="Saved runs the history shows. Default: %(default)s")  # fmt: skip
    html.add_argument("--baseline", metavar="REF", default=None,
                      help="The run to mark as the baseline (default: the one the run was "
                      "compared with, when it was)")  # fmt: skip
    _add_storage(html)

    install = commands.add_parser(
        "install-local",
        help="Install llama.cpp (xllamacpp) and SmolLM2-135M for --ollama-embedded",
    )
    install.add_argument("--force", action="store_true", help="Reinstall even if present")

    demo = commands.add_parser(
        "demo",
        help="Install what real local inference needs, then run the demo suite against it",
    )
    demo.add_argument(
        "examples",
        metavar="DIR",
        nargs="?",
        default=None,
        help="The benchmark tests to run. Default: the demo suite shipped in the package, "
        "with its own settings, writing the run history here",
    )
    demo.add_argument(
        "--models",
        metavar="NAMES",
        default=None,
        help="Run on these models of your Ollama (OLLAMA_HOST) instead of installing and "
        "serving SmolLM2-135M",
    )
    demo.add_argument(
        "pytest_args", nargs=argparse.REMAINDER, help="More pytest arguments, after --"
    )
    return parser


def _load(store: RunStore, ref: str) -> Report:
    try:
        return store.load(ref)
    except ValueError as exc:  # BaselineNotFound, InvalidReport
        raise _Failure(str(exc)) from None


def _cmd_schema(out: TextIO) -> None:
    out.write(json.dumps(Report.model_json_schema(), indent=2) + "\n")


def _cmd_list(store: RunStore, out: TextIO, width: int | None) -> None:
    runs = store.runs()
    if not runs:
        out.write(f"no saved runs in {_shown(store.runs_dir)}\n")
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
                str(_shown(path)),
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
        _write_lines(out, lines)
        return
    if fitted.dropped and width is not None:
        names = ", ".join(c.header for c in fitted.dropped)
        lines += wrap(f"left out to fit {width} characters: {names} (--width 0: no limit)", width)
    _write_lines(out, lines)


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when that is shorter (``../runs/...``)."""
    try:
        relative = Path(os.path.relpath(path.resolve(), Path.cwd().resolve()))
    except (OSError, ValueError):  # another drive on Windows
        return path
    return relative if len(str(relative)) < len(str(path)) else path


def _show_header(store: RunStore, ref: str, report: Report, width: int | None) -> list[str]:
    """The lines naming the run ``show`` prints: its number and file, then when, where, what."""
    try:
        path = _shown(store.resolve(ref))
        number = path.name.split("_", 1)[0]
        name = f"run {number} ({path})" if number.isdigit() else f"run {path}"
    except ValueError:
        name = f"run {ref}"
    return wrap(f"{name}: {run_line(report)}", width)


def _write_lines(out: TextIO, lines: Sequence[str]) -> None:
    out.write("".join(f"{line}\n" for line in lines))


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
    settings = ["-c", str(DEMO_DIR / "pytest.ini"), "--rootdir", "."]
    return [*pytest, str(DEMO_DIR), *settings, *server, *extra]


def _cmd_demo(args: argparse.Namespace) -> int:
    extra = [a for a in args.pytest_args if a != "--"]
    if args.examples is not None and args.examples.startswith("-"):  # demo -- -x: no DIR
        args.examples, extra = None, [args.examples, *extra]
    if args.examples is not None and not Path(args.examples).is_dir():
        raise _Failure(
            f"no directory {args.examples!r}: pass the directory of your benchmark tests, or "
            "nothing for the demo suite shipped with pytest-ollama-bench"
        )
    if args.models is None:
        status = install_local()
        if status:
            raise _Failure(f"installing the local packages failed (pip exit status {status})")
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


def _cmd_html(args: argparse.Namespace, store: RunStore, out: TextIO) -> None:
    from .htmlreport import missing_dependency

    if (problem := missing_dependency()) is not None:
        raise _Failure(problem)
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
        raise _Failure(str(exc)) from None
    page = render_html(report, history=history, baseline=baseline, regressions=regressions)
    try:
        write_json_atomic(args.output, page)
    except OSError as exc:
        raise _Failure(f"cannot write the HTML report to {args.output}: {exc}") from None
    size = len(page.encode("utf-8")) / 1024
    out.write(f"HTML report of {paths[-1]} written to {args.output} ({size:.0f} KiB)\n")


def _run(args: argparse.Namespace, out: TextIO) -> int | None:
    if args.command == "schema":
        _cmd_schema(out)
        return None
    if args.command == "metrics":
        _write_lines(out, metrics_table())
        return None
    if args.command == "install-local":
        return install_local(force=args.force)
    if args.command == "demo":
        return _cmd_demo(args)
    store = RunStore(find_storage() if args.storage is None else args.storage)
    width = _terminal_width() if args.width is None else (args.width or None)
    if getattr(args, "verbose", 0) >= 2:  # -vv: every column, as pytest -vv cuts nothing
        width = None
    if args.command == "html":
        _cmd_html(args, store, out)
    elif args.command == "list":
        _cmd_list(store, out, width)
    elif args.command == "compare":
        a = _load(store, args.a)
        b = _load(store, args.b)
        _write_lines(out, render_comparison(a, b, width=width))
    elif args.command == "export":
        text = export_text(_load(store, args.ref), args.format)
        if args.output is None:
            out.write(text)
        else:
            try:
                write_json_atomic(args.output, text)
            except OSError as exc:
                raise _Failure(f"cannot write {args.output}: {exc}") from None
    elif args.command == "show":
        report = _load(store, args.ref)
        baseline = None if args.baseline is None else _load(store, args.baseline)
        if args.markdown:
            out.write(render_markdown(report, baseline=baseline))
            return None
        lines = render_summary(
            report,
            columns=args.columns,
            sort=args.sort,
            verbosity=args.verbose - args.quiet,
            baseline=baseline,
            width=width,
            columns_flag="--columns",
        )
        header = _show_header(store, args.ref, report, width)
        _write_lines(out, [*header, "", *lines] if lines else [*header, "no cases in this run"])
    return None


def _terminal_width() -> int:
    """The terminal's width (``COLUMNS`` when set; 80 when there is no terminal)."""
    return shutil.get_terminal_size(fallback=(80, 24)).columns


def _safe_stdout() -> TextIO:
    """stdout that replaces characters the terminal's encoding cannot show (✔, Δ, ...)."""
    stream = sys.stdout
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="backslashreplace")
    return stream


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_usage(sys.stderr)
        sys.stderr.write(
            f"{PROG}: error: a command is required: "
            "schema, list, compare, show, export, html, install-local, demo, metrics\n"
        )
        return EXIT_USAGE
    try:
        status = _run(args, _safe_stdout())
    except _Failure as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return EXIT_USAGE
    return EXIT_OK if status is None else status
