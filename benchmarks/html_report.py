"""What the HTML report of a saved run costs: its size, its build time, its load time.

    python benchmarks/html_report.py [--quick] [--storage DIR] [--screenshot PNG]

The run is the latest one saved in ``--storage`` (default ``.ollama-bench``, where
``python -m pytest_ollama_bench demo`` saves), its history the saved runs before it, as the
``html`` command builds it. Reported:

1. build time: :func:`pytest_ollama_bench.htmlreport.page.render_html` in this process,
   repeated (the first call, which imports pygal, reported apart); the median and range;
2. the page's size in bytes and its number of charts;
3. load time in headless Chromium (the system's, through Playwright, a fresh profile each
   time): from navigation start until every chart's SVG is laid out (``performance.now()``
   when the last ``figure.chart svg`` has a non-zero box), repeated; the median and range.

``--screenshot PNG`` also saves a screenshot of the top of the page (1280 px wide), as the
README shows it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO
from _common import fmt
from _common import load_average
from _common import median
from _common import table
from _common import write_results

NAME = "html_report"
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
ALL_DRAWN = """() => [...document.querySelectorAll("figure.chart svg")]
    .every((svg) => svg.getBoundingClientRect().width > 0)"""


def _load_times(path: Path, repeat: int, screenshot: Path | None) -> list[float]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no Chromium here (Debian: apt-get install chromium)")
    times: list[float] = []
    with sync_playwright() as p:
        for i in range(repeat):
            with tempfile.TemporaryDirectory() as profile:
                context = p.chromium.launch_persistent_context(
                    profile, executable_path=chromium, headless=True, args=FLAGS,
                    viewport={"width": 1280, "height": 1000},
                )  # fmt: skip
                page = context.new_page()
                page.goto(path.as_uri(), wait_until="commit")
                page.wait_for_function(ALL_DRAWN, polling=5, timeout=60_000)
                times.append(float(page.evaluate("performance.now()")))
                if screenshot is not None and i == 0:
                    page.screenshot(path=str(screenshot), clip=_clip(page), full_page=True)
                context.close()
    return times


def _clip(page: Any) -> dict[str, float]:
    """The header and the first test's card: what the README shows."""
    box = page.locator("article.test").first.bounding_box()
    return {"x": 0, "y": 0, "width": 1280, "height": box["y"] + box["height"] + 24}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--storage", default=str(REPO / ".ollama-bench"), metavar="DIR")
    parser.add_argument("--screenshot", type=Path, default=None, metavar="PNG")
    args = parser.parse_args()
    started = time.perf_counter()

    from pytest_ollama_bench.htmlreport.page import render_html
    from pytest_ollama_bench.storage import RunStore

    store = RunStore(args.storage)
    latest = store.resolve("latest")
    history = store.recent(20, until=latest)
    report = history[-1][1]
    builds: list[float] = []
    page = ""
    for _ in range(3 if args.quick else 11):
        t0 = time.perf_counter()
        page = render_html(report, history=history)
        builds.append((time.perf_counter() - t0) * 1000)
    first, rest = builds[0], builds[1:]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        path.write_text(page, encoding="utf-8")
        loads = _load_times(path, 3 if args.quick else 9, args.screenshot)
    size = len(page.encode("utf-8"))
    charts = page.count('<figure class="chart"')
    rows = [
        ["run", latest.name, f"{len(report.cases)} cases, history of {len(history)} runs"],
        ["size", f"{size / 1024:.0f} KiB", f"{size} bytes, {charts} charts (inline SVG)"],
        ["build (first, imports pygal)", f"{fmt(first, 0)} ms", ""],
        ["build", f"{fmt(median(rest), 0)} ms", f"range {min(rest):.0f}-{max(rest):.0f} ms"],
        ["load + draw in Chromium", f"{fmt(median(loads), 0)} ms",
         f"range {min(loads):.0f}-{max(loads):.0f} ms, {len(loads)} fresh profiles"],
        ["load average", " ".join(f"{x:.1f}" for x in load_average() or []), ""],
    ]  # fmt: skip
    print(table(rows, ["html report", "value", ""]))
    payload = {
        "run": latest.name,
        "size_bytes": size,
        "charts": charts,
        "build_ms": builds,
        "load_ms": loads,
    }
    write_results(NAME, payload, started)


if __name__ == "__main__":
    main()
