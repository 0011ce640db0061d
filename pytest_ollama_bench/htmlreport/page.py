"""The page: its context, its sections in order, and the document around them.

:func:`render_html` is the entry point. A section is a function of the :class:`Page` that
returns HTML (or ``""`` to leave itself out); :data:`SECTIONS` lists them in the order shown,
so a new kind of result (the load tests) is one more function there.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

from .. import __version__
from ..models import Report
from ..regression import Regression
from .charts import PALETTE
from .charts import Charts
from .history import HistoryRun
from .history import history_runs
from .history import history_section
from .load import LoadSeries
from .load import load_section
from .load import load_series
from .markup import esc
from .sections import header_section
from .sections import skipped_section
from .sections import tests_section

__all__ = ["SECTIONS", "Page", "render_html"]


@dataclass
class Page:
    """What every section may draw from.

    :ivar history: the runs of the history section, oldest first, this run last.
    :ivar regressions: this run's regressions against :attr:`baseline`.
    :ivar colors: one colour per model, the same in every chart.
    """

    report: Report
    charts: Charts
    colors: Mapping[str, str]
    history: Sequence[HistoryRun]
    baseline: Report | None
    regressions: Sequence[Regression]
    load: Sequence[LoadSeries]


Section = Callable[[Page], str]

#: The sections, in the order the page shows them.
SECTIONS: tuple[Section, ...] = (
    header_section,
    tests_section,
    load_section,
    history_section,
    skipped_section,
)


def render_html(
    report: Report,
    *,
    history: Sequence[tuple[str, Report]] = (),
    baseline: Report | None = None,
    regressions: Sequence[Regression] = (),
    load: Sequence[LoadSeries] | None = None,
) -> str:
    """The self-contained HTML document of ``report`` (UTF-8 text; no network resources).

    :param history: saved runs as ``(label, report)``, oldest first (``RunStore.recent``);
        ``report`` itself is added last when it is not among them, and ``baseline`` first
        when it is older than all of them.
    :param baseline: the run ``report`` was compared with (highlighted in the history).
    :param regressions: ``report``'s regressions against ``baseline`` (shown first, in red).
    :param load: load results to draw; by default those of ``report`` (:func:`.load.load_series`).
    :raises ImportError: pygal cannot be imported (see :func:`..missing_dependency`).
    """
    models: list[str] = []
    for case in report.cases:
        if case.model not in models:
            models.append(case.model)
    page = Page(
        report=report,
        charts=Charts(),
        colors={m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)},
        history=history_runs(report, history, baseline),
        baseline=baseline,
        regressions=tuple(regressions),
        load=tuple(load_series(report) if load is None else load),
    )
    body = "\n".join(part for section in SECTIONS if (part := section(page)))
    title = f"pytest-ollama-bench: run of {report.created_at:%Y-%m-%d %H:%M} UTC"
    return _DOCUMENT.format(
        title=esc(title), css=_CSS, script=_SCRIPT, body=body, version=esc(__version__)
    )


_DOCUMENT = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="pytest-ollama-bench {version}">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
{body}
<footer>pytest-ollama-bench {version} &middot; drawn from the run record; every chart is
inline SVG, nothing on this page is fetched from the network</footer>
</main>
<script>{script}</script>
</body>
</html>
"""

# Native hover tooltips: pygal keeps each point's label in a desc element; SVG shows <title>.
_SCRIPT = """
document.querySelectorAll("svg.pygal-chart .tooltip-trigger").forEach(function (el) {
  var group = el.parentNode;
  var label = group.querySelector("desc.label");
  var value = group.querySelector("desc.value");
  var text = (label && label.textContent) || (value && value.textContent) || "";
  if (!text) { return; }
  var title = document.createElementNS("http://www.w3.org/2000/svg", "title");
  title.textContent = text;
  el.appendChild(title);
});
"""

_CSS = """
:root { --fg: #1d1f23; --muted: #667085; --bg: #f4f5f7; --card: #fff; --line: #e4e7ec;
  --red: #b42318; --red-bg: #fef3f2; --green: #067647; --green-bg: #ecfdf3;
  --grey-bg: #f2f4f7; --amber: #93370d; --amber-bg: #fffaeb; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 22px; margin: 0; } h2 { font-size: 18px; margin: 28px 0 10px; }
h3 { font-size: 15px; margin: 0 0 10px; word-break: break-all; }
h4 { font-size: 13px; margin: 14px 0 6px; color: var(--muted); text-transform: uppercase;
  letter-spacing: .04em; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 16px 20px; margin: 14px 0; }
.top { display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
.verdict { font-size: 15px; font-weight: 700; padding: 4px 14px; border-radius: 999px; }
.verdict.ok { background: var(--green-bg); color: var(--green); }
.verdict.bad { background: var(--red-bg); color: var(--red); }
.counts { color: var(--muted); }
.alerts { border: 1px solid #fda29b; border-left: 5px solid var(--red);
  background: var(--red-bg); color: var(--red); border-radius: 8px; padding: 10px 16px;
  margin: 14px 0; }
.alerts h2 { font-size: 15px; margin: 6px 0; color: var(--red); }
.alerts ul { margin: 4px 0 8px; padding-left: 20px; } .alerts li { margin: 2px 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 12px 0 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
nav.toc { margin-top: 12px; font-size: 13px; } nav.toc a { margin-right: 14px; }
a { color: #175cd3; text-decoration: none; } a:hover { text-decoration: underline; }
.badge { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 12px;
  font-weight: 600; line-height: 20px; }
.badge.passed { background: var(--green-bg); color: var(--green); }
.badge.failed, .badge.error { background: var(--red-bg); color: var(--red); }
.badge.skipped { background: var(--grey-bg); color: var(--muted); }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr));
  gap: 10px; margin: 6px 0 10px; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 4px; }
figure.chart svg { display: block; width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 13px;
  font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
td.num { text-align: right; white-space: nowrap; }
td .sub { color: var(--muted); font-size: 12px; }
tr.miss td, td.miss { color: var(--red); } td.ok { color: var(--green); }
details { margin: 8px 0; } summary { cursor: pointer; color: #175cd3; }
details pre { white-space: pre-wrap; word-break: break-word; background: var(--grey-bg);
  border-radius: 6px; padding: 8px 10px; margin: 4px 0 10px; }
ol.rounds { padding-left: 22px; } .tag { color: var(--muted); font-size: 12px; }
p.note { color: var(--muted); margin: 6px 0; }
footer { color: var(--muted); font-size: 12px; margin-top: 30px; }
"""
