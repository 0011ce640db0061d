"""The command line of the server: serve it from the shell until SIGINT/SIGTERM.

    python -m pytest_ollama_bench.server --port 11434 --model llama3.2 --model qwen3:0.6b

(``python -m pytest_ollama_bench.testing`` is the same command.)

Once listening, one line goes to stdout:
``Ollama emulator listening on http://127.0.0.1:PORT (models: llama3.2:latest, ...)``.

Engines are built by :func:`build_engine` from the ``ENGINES`` table; a new engine registers a
builder there (and its options in :func:`build_parser`).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from collections.abc import Sequence

from ..local import INSTALL_HINT
from ._go import parse_time_ns
from .emulator import DEFAULT_VERSION
from .emulator import LOOPBACK_HOSTS
from .emulator import OllamaEmulator
from .engine import Engine
from .simulated import ModelProfile
from .simulated import SimulatedEngine

__all__ = ["ENGINES", "PROG", "build_engine", "build_parser", "main", "serve"]

PROG = "python -m pytest_ollama_bench.server"


def _simulated(args: argparse.Namespace) -> Engine:
    return SimulatedEngine(
        ModelProfile(
            name,
            response=args.response,
            thinking=args.thinking,
            ttft_ms=args.ttft_ms,
            itl_ms=args.itl_ms,
            load_ms=args.load_ms,
            parallel=args.parallel,
            max_queue=_max_queue(args),
            batch_slowdown=args.batch_slowdown,
        )
        for name in args.model
    )


def _llamacpp(args: argparse.Namespace) -> Engine:
    from .llamacpp import embedded_engine

    name = args.model[0] if args.model else "smollm2:135m"
    return embedded_engine(
        args.gguf,
        name,
        n_threads=args.threads,
        n_parallel=args.parallel,
        max_queue=_max_queue(args),
    )


def _max_queue(args: argparse.Namespace) -> int | None:
    return None if args.max_queue < 0 else int(args.max_queue)


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is less than {minimum}")
        return value

    return parse


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


ENGINES: dict[str, Callable[[argparse.Namespace], Engine]] = {
    "simulated": _simulated,
    "llama.cpp": _llamacpp,
}
"""Engine name -> builder taking the parsed arguments."""


def build_engine(args: argparse.Namespace) -> Engine:
    """The engine selected by ``--engine`` (default ``simulated``)."""
    return ENGINES[getattr(args, "engine", "simulated")](args)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The command line of ``python -m pytest_ollama_bench.server`` (``prog`` in its usage)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve an Ollama-protocol emulator on a loopback port.",
    )
    parser.add_argument("--host", default="127.0.0.1", choices=LOOPBACK_HOSTS)
    parser.add_argument("--port", type=int, default=11434, help="0 picks a free port")
    parser.add_argument(
        "--model",
        action="append",
        metavar="NAME",
        help="a model to serve (repeatable; default llama3.2)",
    )
    parser.add_argument("--engine", choices=sorted(ENGINES), default="simulated")
    parser.add_argument("--ollama-version", default=DEFAULT_VERSION, help="for /api/version")
    parser.add_argument(
        "--parallel",
        type=_at_least(1),
        default=1,
        metavar="N",
        help="requests each model serves at once, like OLLAMA_NUM_PARALLEL (default 1); "
        "llama.cpp runs N slots",
    )
    parser.add_argument(
        "--max-queue",
        type=_at_least(-1),
        default=512,
        metavar="N",
        help="requests that may wait for a slot per model before HTTP 503, like "
        "OLLAMA_MAX_QUEUE (default 512; -1: no limit)",
    )
    real = parser.add_argument_group(f"llama.cpp engine ({INSTALL_HINT})")
    real.add_argument(
        "--gguf", default=None, help="GGUF file to serve (default: SmolLM2-135M-Instruct)"
    )
    real.add_argument("--threads", type=int, default=None, help="CPU threads for llama.cpp")
    simulated = parser.add_argument_group("simulated engine")
    simulated.add_argument("--ttft-ms", type=float, default=0.0, help="prompt phase per request")
    simulated.add_argument("--itl-ms", type=float, default=0.0, help="gap between tokens")
    simulated.add_argument("--load-ms", type=float, default=0.0, help="cold-load time")
    simulated.add_argument(
        "--batch-slowdown",
        type=_non_negative,
        default=0.0,
        metavar="F",
        help="each other request generating at once stretches a request's steps by F "
        "(default 0: ideal batching; 1: none)",
    )
    simulated.add_argument("--response", default="2 + 2 equals 4.", help="the answer text")
    simulated.add_argument("--thinking", default="", help="thinking text (thinking models)")
    return parser


async def serve(args: argparse.Namespace) -> int:
    """Run until SIGINT/SIGTERM; returns the exit status."""
    engine = build_engine(args)
    emulator = OllamaEmulator(
        engine,
        host=args.host,
        port=args.port,
        version=args.ollama_version,
        close_engine=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":  # Windows loops have no signal handlers: Ctrl-C ends main()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
    await emulator.start()
    try:
        cards = sorted(engine.cards(), key=lambda card: parse_time_ns(card.modified_at))
        names = ", ".join(card.name for card in cards)  # installation order
        print(f"Ollama emulator listening on {emulator.url} (models: {names})", flush=True)
        await stop.wait()
    finally:
        await emulator.stop()
    return 0


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and serve; returns the exit status."""
    args = build_parser(prog).parse_args(argv)
    if not args.model and args.engine == "simulated":
        args.model = ["llama3.2"]
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:  # SIGINT before the handler was installed
        return 0
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
