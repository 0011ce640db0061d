"""The report's sections about this run: the header, one card per test, skipped and failed.

Per test: its models side by side (bars of the median with p5-p95 whiskers for TTFT, TPOT and
tokens/s), every round as a dot (warmup rounds grey), the numbers behind the bars, the gates
with their margins, and each round's answer (collapsed). Labels, units and directions come
from the metric registry; p5 and p95 are :func:`~pytest_ollama_bench.stats.percentile` of the
measured rounds, as the record's statistics are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..metrics import DIRECTED_METRICS
from ..metrics import Metric
from ..metrics import metric
from ..models import CaseRecord
from ..models import GateResult
from ..models import Measurement
from ..stats import percentile
from ..table import group_by_test
from .charts import Bar
from .charts import Strip
from .charts import axis_title
from .charts import chart_title
from .markup import anchor
from .markup import badge
from .markup import esc
from .markup import fmt
from .markup import measured_rounds
from .markup import number_cell
from .markup import table

if TYPE_CHECKING:
    from .page import Page

__all__ = ["CHART_METRICS", "header_section", "skipped_section", "tests_section"]

#: The metrics each test's charts show, in order.
CHART_METRICS: tuple[str, ...] = ("ttft_ms", "tpot_ms", "tokens_per_s")
#: Characters of one answer shown on the page (the JSON record keeps all of it).
ANSWER_LIMIT = 4000


# --------------------------------------------------------------------------- header


def _facts(page: Page) -> list[tuple[str, str]]:
    r = page.report
    where = f"<code>{esc(r.host)}</code> ({esc(r.api)} API"
    where += f", Ollama {esc(r.ollama_version)})" if r.ollama_version else ")"
    facts = [("when", esc(f"{r.created_at:%Y-%m-%d %H:%M:%S} UTC")), ("server", where)]
    if r.system is not None:
        s = r.system
        cpu = s.cpu_model or s.machine
        if s.cpu_cores_physical or s.cpu_cores_logical:
            cpu += f", {s.cpu_cores_physical or '?'} cores / {s.cpu_cores_logical or '?'} threads"
        machine = f"{s.os} {s.os_release} {s.machine}; {cpu}"
        if s.ram_total_mb:
            machine += f"; {s.ram_total_mb / 1024:.1f} GiB RAM"
        machine += f"; {s.python_implementation} {s.python_version}"
        facts.append(("machine", esc(machine)))
        gpus = [
            g.name + (f" ({g.memory_total_mb / 1024:.0f} GiB)" if g.memory_total_mb else "")
            for g in s.gpus
        ]
        facts.append(("GPUs", esc(", ".join(gpus)) if gpus else "none found"))
    if r.git is not None:
        git = f"<code>{esc(r.git.commit[:12])}</code>"
        if r.git.branch:
            git += f" on {esc(r.git.branch)}"
        if r.git.dirty:
            git += " (uncommitted changes)"
        facts.append(("git", git))
    base = next((run for run in page.history if run.baseline), None)
    if base is not None:
        when = f"{base.report.created_at:%Y-%m-%d %H:%M:%S} UTC"
        facts.append(("baseline", esc(f"run {base.label} of {when}")))
    settings = r.settings
    facts.append(
        (
            "settings",
            esc(
                f"rounds {settings.rounds}, warmup {settings.warmup}"
                + (f", models {', '.join(settings.models)}" if settings.models else "")
            ),
        )
    )
    return facts


def _counts(cases: Sequence[CaseRecord]) -> str:
    outcomes = [c.outcome for c in cases]
    parts = [
        f"{outcomes.count(o)} {o}"
        for o in ("passed", "failed", "error", "skipped")
        if o in outcomes
    ]
    tests = len({c.test for c in cases})
    counted = f"{len(cases)} case{'s' * (len(cases) != 1)} in {tests} test{'s' * (tests != 1)}"
    return f"{counted}: " + ", ".join(parts or ["none"])


def header_section(page: Page) -> str:
    """When, where, git commit, counts; regressions and gate misses first, in red."""
    r = page.report
    misses = [(c, g) for c in r.cases for g in c.gates if not g.passed]
    failed = [c for c in r.cases if c.outcome in ("failed", "error")]
    bad = bool(page.regressions or misses or failed or r.interrupted or (r.exit_status or 0))
    verdict = "failed" if bad else "passed"
    if r.interrupted:
        verdict = "interrupted"
    alerts = ""
    if page.regressions or misses or r.interrupted:
        parts = []
        if r.interrupted:
            parts.append("<h2>The run was interrupted: what completed is shown</h2>")
        if page.regressions:
            rules = ", ".join(str(rule) for rule in r.settings.compare_fail)
            items = "".join(f"<li>{esc(x.message)}</li>" for x in page.regressions)
            parts.append(
                f"<h2>{len(page.regressions)} regression{'s' * (len(page.regressions) != 1)} "
                f"against the baseline ({esc(rules)})</h2><ul>{items}</ul>"
            )
        if misses:
            items = "".join(f"<li>{esc(c.nodeid)}: {esc(g.message)}</li>" for c, g in misses)
            parts.append(
                f"<h2>{len(misses)} gate{'s' * (len(misses) != 1)} missed</h2><ul>{items}</ul>"
            )
        alerts = f'<section class="alerts" id="alerts">{"".join(parts)}</section>'
    facts = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in _facts(page))
    links = "".join(
        f'<a href="#{anchor("t", test)}">{esc(test.rsplit("::", 1)[-1])}</a>'
        for test in group_by_test(r.cases)
    )
    return (
        '<header class="card" id="run">'
        f'<div class="top"><h1>pytest-ollama-bench</h1>'
        f'<span class="verdict {"bad" if bad else "ok"}">{verdict}</span>'
        f'<span class="counts">{esc(_counts(r.cases))}</span></div>'
        f'{alerts}<dl class="facts">{facts}</dl>'
        f'<nav class="toc">{links}</nav></header>'
    )


# --------------------------------------------------------------------------- per test


def _values(rounds: Sequence[Measurement], name: str) -> list[float]:
    return [float(v) for r in rounds if (v := getattr(r, name)) is not None]


def _spread(case: CaseRecord, m: Metric) -> tuple[float, float, float] | None:
    """(median, p5, p95) of ``m`` over the measured rounds; None when never reported."""
    stats = case.stats.get(m.name)
    values = _values(measured_rounds(case), m.name)
    if stats is None or not values:
        return None
    return stats.median, percentile(values, 5), percentile(values, 95)


def _bars(page: Page, cases: Sequence[CaseRecord], m: Metric) -> str:
    bars = []
    for case in cases:
        spread = _spread(case, m)
        if spread is None:
            continue
        median, low, high = spread
        n = case.stats[m.name].n
        over = f"{n} {'gap' if m.pooled else 'round'}{'s' * (n != 1)}"  # itl_ms: pooled gaps
        label = (
            f"{case.model}: median {fmt(median, m)}, p5 {fmt(low, m)}, p95 {fmt(high, m)} "
            f"{m.unit} ({over})"
        )
        bars.append(Bar(case.model, page.colors[case.model], median, low, high, label))
    if not bars:
        return f'<p class="note">{esc(axis_title(m))}: not reported by the server</p>'
    svg = page.charts.bars(chart_title(m, "median, p5-p95"), axis_title(m), bars)
    return f'<figure class="chart" data-metric="{m.name}" data-kind="bars">{svg}</figure>'


def _strips(page: Page, cases: Sequence[CaseRecord], m: Metric) -> str:
    strips = []
    for case in cases:
        rounds = [r for r in measured_rounds(case, warmup=True) if getattr(r, m.name) is not None]
        if not rounds:
            continue
        labels, n = [], 0
        for r in rounds:
            n += not r.warmup
            which = "warmup" if r.warmup else f"round {n}"
            labels.append(f"{case.model}, {which}: {fmt(getattr(r, m.name), m)} {m.unit}")
        strips.append(
            Strip(
                case.model,
                page.colors[case.model],
                tuple(float(getattr(r, m.name)) for r in rounds),
                tuple(r.warmup for r in rounds),
                tuple(labels),
            )
        )
    if not strips:
        return ""
    svg = page.charts.strips(chart_title(m, "every round"), axis_title(m), strips)
    return f'<figure class="chart" data-metric="{m.name}" data-kind="rounds">{svg}</figure>'


def _numbers(cases: Sequence[CaseRecord], shown: Sequence[Metric]) -> str:
    headers = ["model", "outcome"]
    for m in shown:
        headers += [f"{axis_title(m)} median", "p5-p95"]
    headers += ["rounds", "gates"]
    rows = []
    for case in cases:
        row = [f"<td><code>{esc(case.model)}</code></td>", badge(case.outcome)]
        for m in shown:
            spread = _spread(case, m)
            row.append(number_cell(spread[0] if spread else None, m, "median"))
            band = "-" if spread is None else f"{fmt(spread[1], m)} - {fmt(spread[2], m)}"
            row.append(f'<td class="num sub">{band}</td>')
        total = case.stats.get("total_ms")
        row.append(f'<td class="num">{total.n if total else 0}</td>')
        verdict = "-" if not case.gates else "✔" if all(g.passed for g in case.gates) else "✘"
        row.append(f'<td class="{"miss" if verdict == "✘" else "ok"}">{verdict}</td>')
        rows.append(row)
    attrs = [f'data-case="{esc(c.nodeid)}" data-model="{esc(c.model)}"' for c in cases]
    return table(headers, rows, "numbers", attrs)


def _margin(gate: GateResult) -> str:
    """How far the value is inside the limit (``+12.3 ms (+25%)``); negative: beyond it.

    An upper limit (``<=``, ``<``) has limit - value to spare, a lower one value - limit.
    """
    if gate.value is None:
        return "not reported"
    upper = gate.op in ("<=", "<")
    headroom = gate.limit - gate.value if upper else gate.value - gate.limit
    known = _gate_metric(gate)
    unit = known.unit if known is not None and known.unit != "ratio" else ""
    decimals = max(1, known.decimals) if known is not None else 1
    pct = f"({headroom / abs(gate.limit) * 100:+.0f}%)" if gate.limit else ""
    return " ".join(part for part in (f"{headroom:+.{decimals}f}", unit, pct) if part)


def _gate_metric(gate: GateResult) -> Metric | None:
    """The registry's entry for a gate's metric (None for one it does not know)."""
    return metric(gate.metric) if gate.metric in DIRECTED_METRICS else None


def _gate_value(gate: GateResult) -> str:
    """A gate's value with its metric's precision (a pass rate of 0.95 is not ``0.9``)."""
    if gate.value is None:
        return "-"
    known = _gate_metric(gate)
    return f"{gate.value:.1f}" if known is None else fmt(gate.value, known)


def _gates(cases: Sequence[CaseRecord]) -> str:
    rows = []
    for case in cases:
        for g in case.gates:
            value = _gate_value(g)
            cls = "ok" if g.passed else "miss"
            rows.append(
                [
                    f"<td><code>{esc(case.model)}</code></td>",
                    f"<code>{esc(g.threshold)}</code> <span class='sub'>({esc(g.source)})</span>",
                    f"{esc(g.metric)} {esc(g.stat)} {esc(g.op)} {g.limit:g}",
                    f'<td class="num">{value}</td>',
                    f'<td class="num {cls}">{esc(_margin(g))}</td>',
                    f'<td class="{cls}">{"held" if g.passed else "missed"}</td>',
                ]
            )
    if not rows:
        return ""
    headers = ["model", "gate", "rule", "value", "margin", ""]
    return "<h4>Gates</h4>" + table(headers, rows, "gates")


def _prompt(prompt: str | list[dict[str, object]]) -> str:
    if isinstance(prompt, str):
        return prompt
    for message in reversed(prompt):
        if isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


def _answers(cases: Sequence[CaseRecord]) -> str:
    parts, count = [], 0
    for case in cases:
        for call in case.calls:
            items = []
            n = 0
            for r in call.rounds:
                n += not r.warmup
                text = r.text if len(r.text) <= ANSWER_LIMIT else r.text[:ANSWER_LIMIT] + "…"
                more = len(r.text) - ANSWER_LIMIT
                tail = f" ({more} more characters in the JSON record)" if more > 0 else ""
                which = "warmup" if r.warmup else f"round {n}"
                reason = f", done_reason {r.done_reason}" if r.done_reason else ""
                items.append(
                    f'<li><span class="tag">{which}{esc(reason)}{esc(tail)}</span>'
                    f"<pre>{esc(text)}</pre></li>"
                )
                count += 1
            parts.append(
                f"<p><code>{esc(case.model)}</code> {esc(call.endpoint)}: "
                f"<em>{esc(_prompt(call.prompt)[:300])}</em></p>"
                f'<ol class="rounds">{"".join(items)}</ol>'
            )
    if not count:
        return ""
    return (
        f'<details class="answers"><summary>Answers ({count} round{"s" * (count != 1)})</summary>'
        f"{''.join(parts)}</details>"
    )


def _test_card(page: Page, test: str, cases: Sequence[CaseRecord]) -> str:
    shown = [metric(name) for name in CHART_METRICS]
    measured = [c for c in cases if measured_rounds(c)]
    outcomes = " ".join(badge(o) for o in sorted({c.outcome for c in cases}))
    count = f"{len(cases)} model{'s' * (len(cases) != 1)}"
    head = (
        f'<article class="card test" id="{anchor("t", test)}" data-test="{esc(test)}">'
        f"<h3>{esc(test)} <span class='counts'>({count})</span> {outcomes}</h3>"
    )
    runs = sum(len(c.load) for c in cases)
    if runs and not any(c.calls for c in cases):  # a load test: its numbers are per run
        note = (
            f"a load test: {runs} load run{'s' * (runs != 1)}, drawn under "
            '<a href="#load">Load tests</a>'
        )
        return f'{head}<p class="note">{note}</p>{_gates(cases)}</article>'
    bars = "".join(_bars(page, measured, m) for m in shown)
    strips = "".join(_strips(page, measured, m) for m in shown)
    return (
        f"{head}"
        f'<div class="charts">{bars}</div>'
        f"{_numbers(cases, shown)}"
        f'<h4>Rounds</h4><div class="charts">{strips}</div>'
        f"{_gates(cases)}{_answers(cases)}</article>"
    )


def tests_section(page: Page) -> str:
    """One card per test that ran (a test whose cases were all skipped is listed last).

    A load test's card (no chat or generate calls) has its gates and a link to the load
    section, where its runs are drawn, instead of per-round charts it has no rounds for.
    """
    cards = [
        _test_card(page, test, [c for c in cases if c.outcome != "skipped"])
        for test, cases in group_by_test(page.report.cases).items()
        if any(c.outcome != "skipped" for c in cases)
    ]
    if not cards:
        return ""
    return f'<section id="tests"><h2>Tests</h2>{"".join(cards)}</section>'


# --------------------------------------------------------------------------- skipped, failed


def skipped_section(page: Page) -> str:
    """Every case that did not pass, with its reason."""
    rows = [
        [
            f"<td><code>{esc(c.nodeid)}</code></td>",
            f"<code>{esc(c.model)}</code>",
            badge(c.outcome),
            f"<pre>{esc(c.error or '')}</pre>",
        ]
        for c in page.report.cases
        if c.outcome != "passed"
    ]
    if not rows:
        return ""
    body = table(["test", "model", "outcome", "reason"], rows, "skipped")
    title = "<h2>Skipped and failed</h2>"
    return f'<section id="skipped">{title}<div class="card">{body}</div></section>'
