"""Compact per-model properties for JUnit XML (``ollama[llama3.2].ttft_ms.median`` ...).

The default summary columns, read from the metric registry, so the XML carries what the
table shows by default.
"""

from __future__ import annotations

from .columns import COLUMNS
from .columns import DEFAULT_COLUMNS
from .models import CaseRecord

__all__ = ["PREFIX", "junit_properties"]

#: How every property name the plugin adds begins.
PREFIX = "ollama["


def junit_properties(case: CaseRecord) -> list[tuple[str, str]]:
    """``(name, value)`` pairs for one case: its default-column statistics, rounds and gates."""
    prefix = f"{PREFIX}{case.model}]"
    out: list[tuple[str, str]] = []
    for name in DEFAULT_COLUMNS:
        column = COLUMNS[name]
        value = column.value(case)
        if value is None:
            continue
        if column.metric is not None:
            out.append((f"{prefix}.{column.metric.name}.{column.stat}", f"{value:.3f}"))
        elif column.kind == "rounds":
            out.append((f"{prefix}.rounds", str(int(value))))
    if case.gates:
        missed = sum(1 for g in case.gates if not g.passed)
        out.append((f"{prefix}.gates", "passed" if not missed else f"{missed} missed"))
    return out
