"""Command line: ``python -m pytest_ollama_bench {schema,metrics,list,compare,show,export,...}``.

Exit status: 0 on success, 2 for a usage error or a run that cannot be found or read (the
reason goes to stderr).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
from collections.abc import Sequence
from typing import TextIO

from . import __version__
from .columns import parse_columns
from .columns import parse_sort
from .commands import CommandError
from .commands import export_command
from .commands import html_command
from .commands import list_command
from .commands import load_run
from .commands import run_demo
from .commands import show_header
from .commands import write_lines
from .comparison import render_comparison
from .exports import FORMATS
from .fit import wrap
from .local import install_local
from .locate import find_storage
from .metrics import markdown_table as metrics_table
from .models import Report
from .report import render_markdown
from .report import render_summary
from .settings import DEFAULT_STORAGE_DIR
from .settings import Settings
from .storage import RunStore

__all__ = ["build_parser", "main"]

PROG = "python -m pytest_ollama_bench"
EXIT_OK = 0
EXIT_USAGE = 2


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


def _cmd_schema(out: TextIO) -> None:
    out.write(json.dumps(Report.model_json_schema(), indent=2) + "\n")


def _run(args: argparse.Namespace, out: TextIO) -> int | None:
    if args.command == "schema":
        _cmd_schema(out)
        return None
    if args.command == "metrics":
        write_lines(out, metrics_table())
        return None
    if args.command == "install-local":
        return install_local(force=args.force)
    if args.command == "demo":
        return run_demo(args)
    store = RunStore(find_storage() if args.storage is None else args.storage)
    width = _terminal_width() if args.width is None else (args.width or None)
    if getattr(args, "verbose", 0) >= 2:  # -vv: every column, as pytest -vv cuts nothing
        width = None
    if args.command == "html":
        html_command(args, store, out, width)
    elif args.command == "list":
        list_command(store, out, width)
    elif args.command == "compare":
        a = load_run(store, args.a)
        b = load_run(store, args.b)
        write_lines(out, render_comparison(a, b, width=width))
    elif args.command == "export":
        export_command(args, store, out, width)
    elif args.command == "show":
        report = load_run(store, args.ref)
        baseline = None if args.baseline is None else load_run(store, args.baseline)
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
        header = show_header(store, args.ref, report, width)
        write_lines(out, [*header, "", *lines] if lines else [*header, "no cases in this run"])
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
    except CommandError as exc:
        for line in wrap(f"{PROG}: error: {exc}", _terminal_width()):
            sys.stderr.write(line + "\n")
        return EXIT_USAGE
    return EXIT_OK if status is None else status
