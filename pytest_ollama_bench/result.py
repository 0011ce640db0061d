"""What one benchmark call measured, as the test sees it: :class:`BenchResult`."""

from __future__ import annotations

from typing import Any

from .models import CallRecord
from .models import Measurement
from .models import Stats

__all__ = ["BenchResult"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True


class BenchResult:
    """What one ``chat``/``generate`` call measured.

    :ivar text: the answer of the last measured round (:attr:`texts` has every one).
    :ivar texts: the answer of every measured round, in order.
    :ivar thinking: the last measured round's thinking text.
    :ivar tool_calls: the last measured round's tool calls, in Ollama's shape
        (``{"id", "function": {"index", "name", "arguments"}}``).
    :ivar pass_rate: the share of measured rounds whose answer passed ``check=`` (None
        without a check); each round's ``pass_rate`` and ``check_error`` say which and why.
    :ivar rounds: the measured rounds (:class:`Measurement`), warmup excluded.
    :ivar warmup_rounds: the warmup rounds, kept but left out of :attr:`stats`.
    :ivar stats: metric name -> :class:`Stats` over :attr:`rounds`.
    :ivar output_reached: with ``output_tokens=N``: whether every measured answer reached N
        tokens (each round's ``output_reached`` and ``done_reason`` say which and why not);
        None without ``output_tokens`` or when the server reported no output token count.
    """

    def __init__(self, record: CallRecord) -> None:
        self.record = record
        self.model = record.model
        self.rounds: list[Measurement] = [m for m in record.rounds if not m.warmup]
        self.warmup_rounds: list[Measurement] = [m for m in record.rounds if m.warmup]
        self.stats: dict[str, Stats] = dict(record.stats)
        last = self.rounds[-1] if self.rounds else None
        self.texts: list[str] = [m.text for m in self.rounds]
        self.text: str = last.text if last else ""
        self.thinking: str = last.thinking if last else ""
        self.tool_calls: list[dict[str, Any]] = list(last.tool_calls) if last else []
        checked = [m.pass_rate for m in self.rounds if m.pass_rate is not None]
        self.pass_rate: float | None = sum(checked) / len(checked) if checked else None
        reached = [m.output_reached for m in self.rounds if m.output_reached is not None]
        self.output_reached: bool | None = all(reached) if reached else None

    def __repr__(self) -> str:
        ttft = self.stats.get("ttft_ms")
        median = f", ttft_ms median {ttft.median:.1f}" if ttft else ""
        return f"<BenchResult {self.model} {len(self.rounds)} round(s){median}: {self.text[:60]!r}>"
