"""Answer checks: a test's ``check=`` function run on an answer, its failure kept as text.

A check is any callable taking the answer text that raises on a bad answer (an
``AssertionError`` from ``assert`` or from the package's ``assert_*`` helpers, or any other
exception); returning ``False`` also fails it, any other return value passes. Benchmark calls
run it on every round's answer (``pass_rate``), and the load benchmarks on every request's
(goodput). Pure, standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Check", "CheckOutcome", "check_name", "run_check"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

#: A function of the answer text that raises (or returns False) on a bad answer.
Check = Callable[[str], object]

_MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class CheckOutcome:
    """Whether one answer passed, and if not, why (the exception as ``Type: message``)."""

    passed: bool
    error: str | None = None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if len(first) > _MESSAGE_LIMIT:
        first = first[: _MESSAGE_LIMIT - 1] + "…"
    name = type(exc).__name__
    return f"{name}: {first}" if first else name


def run_check(check: Check, text: str) -> CheckOutcome:
    """Run ``check`` on ``text``; an exception (not a ``KeyboardInterrupt`` or exit) or a
    ``False`` result is a failure, kept as its message."""
    try:
        result = check(text)
    except Exception as exc:  # any failure of the check is the answer's failure
        return CheckOutcome(False, _describe(exc))
    if result is False:
        return CheckOutcome(False, f"{check_name(check)} returned False")
    return CheckOutcome(True)


def check_name(check: Check) -> str:
    """A readable name for ``check`` (its qualified name; ``<lambda>`` for a lambda)."""
    name = getattr(check, "__qualname__", None) or getattr(check, "__name__", None)
    return str(name) if name else type(check).__name__
