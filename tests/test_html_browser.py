"""The HTML report opened in a real browser: headless Chromium (the system's), through Playwright.

A machine without Chromium or Playwright skips these tests with the reason; under CI (the
``CI`` environment variable set, as ``.ci/run`` runs) they fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from html_suite import run_bench
from html_suite import setup_models
from html_suite import sweep

from pytest_ollama_bench.htmlreport.page import render_html
from pytest_ollama_bench.models import Report
from pytest_ollama_bench.storage import RunStore
from pytest_ollama_bench.testing import FakeOllama

#: No network on a CI machine: Chromium must not try its background services.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Every chart of the page: (its kind, whether its svg has a size and plotted shapes).
CHARTS_JS = """() => [...document.querySelectorAll("figure.chart")].map((figure) => {
  const svg = figure.querySelector("svg");
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const shapes = svg ? svg.querySelectorAll(".plot .series rect, .plot .series circle, "
    + ".plot .series path").length : 0;
  return {kind: figure.dataset.kind, width: box.width, height: box.height, shapes: shapes};
})"""


#: Each plotted shape of a chart of a test's card: its label, fill, stroke and drawn size.
SHAPES_JS = """([test, metric, kind]) => {
  const figure = document.querySelector(
    `article[data-test="${test}"] figure[data-metric="${metric}"][data-kind="${kind}"]`);
  return [...figure.querySelectorAll(".plot .series circle.dot, .plot .series rect.rect, "
    + ".plot .series .ci path")].map((shape) => {
    const box = shape.getBoundingClientRect();
    const style = getComputedStyle(shape);
    const label = shape.parentNode.querySelector("desc.label");
    return {ci: shape.closest(".ci") !== null, label: label ? label.textContent : "",
            fill: style.fill, stroke: style.stroke, width: box.width, height: box.height};
  });
}"""

#: How the page draws a warmup round (pytest_ollama_bench.htmlreport.charts.WARMUP_COLOR).
GREY = "rgb(176, 176, 176)"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; under CI the browser tests must run (.ci/run installs Chromium)")
    pytest.skip(reason)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    _unavailable("no Chromium here (Debian: apt-get install chromium)")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        yield p


@pytest.fixture
def page(playwright: Any, tmp_path: Path) -> Iterator[Any]:
    """A page of a fresh Chromium profile that records console errors and every request."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=_chromium(),
        headless=True,
        args=FLAGS,
        viewport={"width": 1280, "height": 900},
    )
    try:
        tab = context.new_page()
        tab.errors = []
        tab.requests = []
        tab.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: tab.errors.append(str(e)))
        tab.on("request", lambda r: tab.requests.append(r.url))
        yield tab
    finally:
        context.close()


def _open(page: Any, path: Path) -> list[dict[str, Any]]:
    page.goto(path.as_uri(), wait_until="load")
    charts: list[dict[str, Any]] = page.evaluate(CHARTS_JS)
    assert page.errors == [], page.errors
    assert page.requests == [path.as_uri()]  # the file itself, nothing else
    assert charts
    for chart in charts:
        assert chart["width"] > 100, chart
        assert chart["height"] > 50, chart
        assert chart["shapes"] > 0, chart
    return charts


def test_the_report_renders_in_chromium_with_the_records_numbers(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, page: Any, tmp_path: Path
) -> None:
    setup_models(fake_ollama)
    run_bench(pytester, fake_ollama)
    run_bench(pytester, fake_ollama, "--ollama-html=report.html")
    path = pytester.path / "report.html"
    charts = _open(page, path)
    kinds = [c["kind"] for c in charts]
    assert kinds.count("bars") == kinds.count("rounds") == 9  # 3 tests x TTFT, TPOT, tok/s
    assert kinds.count("history") == 2 * 6  # 6 measured cases x TTFT, tok/s
    # the numbers shown for one case are the JSON record's
    report = RunStore(pytester.path / ".ollama-bench").load("latest")
    case = next(c for c in report.cases if c.nodeid.endswith("test_arithmetic[qwen2.5:0.5b]"))
    row = page.locator(f'tr[data-case="{case.nodeid}"][data-model="{case.model}"]')
    for name in ("ttft_ms", "tpot_ms", "tokens_per_s"):
        cell = row.locator(f'td[data-metric="{name}"][data-stat="median"]')
        assert cell.inner_text() == f"{case.stats[name].median:.1f}"
        assert float(cell.get_attribute("data-value")) == case.stats[name].median
    # warmup rounds are grey dots; each model's measured rounds are dots of its bar's colour
    test = "test_bench.py::test_arithmetic"
    bars = page.evaluate(SHAPES_JS, [test, "ttft_ms", "bars"])
    color = {b["label"].split(": ")[0]: b["fill"] for b in bars if not b["ci"]}
    assert len(color) == len(set(color.values())) == 2
    assert GREY not in color.values()
    dots = page.evaluate(SHAPES_JS, [test, "ttft_ms", "rounds"])
    warmup = sorted(d["label"] for d in dots if d["fill"] == GREY)
    cases = [c for c in report.cases if c.test == test and c.calls]
    assert warmup == sorted(
        f"{c.model}, warmup: {r.ttft_ms:.1f} ms"
        for c in cases
        for r in c.calls[0].rounds
        if r.warmup
    )
    assert len(warmup) == 2
    for d in dots:
        if d["fill"] != GREY:
            assert d["fill"] == color[d["label"].split(", ")[0]], d
            assert ", round " in d["label"]
        assert d["width"] > 4  # drawn, not a speck
    assert len(dots) == 2 * (3 + 1)
    # each bar has its p5-p95 whisker, stroked in a colour of its own, caps and all
    whiskers = [b for b in bars if b["ci"]]
    assert len(whiskers) == 2
    for w in whiskers:
        assert w["stroke"] not in ("none", "rgba(0, 0, 0, 0)", *color.values())
        assert w["width"] >= 12  # the caps at both ends
    assert page.locator("#alerts").inner_text().startswith("1 gate missed")
    assert page.locator("#alerts").is_visible()
    # answers are collapsed until opened, and shown as text
    answers = page.locator(f'[data-test="{case.test}"] details.answers')
    assert not answers.locator("pre").first.is_visible()
    answers.locator("summary").click()
    assert "<script>alert(1)</script>" in answers.inner_text()
    # hover text on a bar: the page's script turned pygal's labels into native tooltips
    title = page.locator("figure.chart[data-kind=bars] .tooltip-trigger title").first.text_content()
    assert "median" in title
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_the_load_section_renders_in_chromium(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, page: Any, tmp_path: Path
) -> None:
    setup_models(fake_ollama)
    run_bench(pytester, fake_ollama)
    report: Report = RunStore(pytester.path / ".ollama-bench").load("latest")
    path = tmp_path / "load.html"
    path.write_text(render_html(report, load=[sweep(), sweep(model="qwen2.5:0.5b")]), "utf-8")
    charts = _open(page, path)
    assert [c["kind"] for c in charts].count("load") == 4
    assert page.locator("#load article").count() == 2
    page.locator("#load").screenshot(path=str(tmp_path / "load.png"))
