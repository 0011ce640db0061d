"""The HTML report as a user gets it: --ollama-html at session end and the `html` command."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from html_suite import BENCH
from html_suite import MARKUP_ANSWER
from html_suite import MODELS
from html_suite import run_bench
from html_suite import setup_models
from html_suite import sweep

from pytest_ollama_bench import options
from pytest_ollama_bench.htmlreport import HTML_EXTRA_HINT
from pytest_ollama_bench.htmlreport.load import load_series
from pytest_ollama_bench.htmlreport.page import render_html
from pytest_ollama_bench.models import Report
from pytest_ollama_bench.storage import RunStore
from pytest_ollama_bench.testing import FakeOllama

#: Anything that would make the page load a resource: src/href other than a #fragment, CSS
#: url() other than url(#...), @import.
EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*(?!["']?#)|url\(\s*(?!["']?#)|@import""", re.I)


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-m", "pytest_ollama_bench", *args],
        cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8", timeout=120,
        check=False,
    )  # fmt: skip


def section(html: str, name: str) -> str:
    match = re.search(rf'<section id="{name}">(.*?)</section>', html, re.S)
    assert match, f"no {name} section"
    return match.group(1)


def card(tests: str, test: str) -> str:
    """The card of ``test`` in the tests section."""
    match = re.search(rf'<article class="card test" [^>]*data-test="{re.escape(test)}">(.*?)'
                      r"</article>", tests, re.S)  # fmt: skip
    assert match, f"no card for {test}"
    return match.group(1)


def chart(html: str, metric: str, kind: str) -> str:
    """The svg of the ``kind`` chart (bars, rounds) of ``metric`` in ``html``."""
    match = re.search(rf'<figure class="chart" data-metric="{metric}" data-kind="{kind}">'
                      r"(<svg.*?</svg>)</figure>", html, re.S)  # fmt: skip
    assert match, f"no {kind} chart of {metric}"
    return match.group(1)


def text_rows(html: str, cls: str) -> list[list[str]]:
    """The cells of the body rows of the table of class ``cls``, as text."""
    match = re.search(rf'<table class="{cls}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert match, f"no {cls} table"
    return [
        [unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", match.group(1), re.S)
    ]


def drawn_bars(svg: str) -> dict[str, tuple[float, float, float, float]]:
    """Each bar of a bar chart as drawn, by model: the y (pixels, downwards) of the bar's top,
    of its whisker's top and bottom ends, and of the bar's base (the value 0)."""
    models = re.findall(r'<desc class="label">([^<]+?): median', svg)
    rects = re.findall(r'<rect x="[^"]*" y="([^"]*)" rx="0" ry="0" width="[^"]*" '
                       r'height="([^"]*)" class="rect reactive tooltip-trigger"', svg)  # fmt: skip
    whiskers = [[float(y) for _, y in re.findall(r"([-\d.]+) ([-\d.]+)", d)]
                for d in re.findall(r'<g class="ci"><path d="([^"]+)"', svg)]  # fmt: skip
    assert len(models) == len(rects) == len(whiskers) > 0
    return {
        model: (float(y), min(ends), max(ends), float(y) + float(height))
        for model, (y, height), ends in zip(models, rects, whiskers, strict=True)
    }


def series_labels(svg: str) -> dict[str, list[str]]:
    """The hover labels of each series of a chart's points, by the series' colour."""
    colors = dict(re.findall(r"\.color-(\d+) a:visited\{stroke:(#[0-9a-fA-F]{6});", svg))
    overlay = svg[svg.index('class="plot overlay"') : svg.index('class="plot text-overlay"')]
    parts = re.split(r'<g class="series serie-(\d+) color-\d+">', overlay)[1:]
    return {
        colors[index].lower(): re.findall(r'<desc class="label">([^<]*)</desc>', points)
        for index, points in zip(parts[::2], parts[1::2], strict=True)
    }


def p5_p95(values: list[float]) -> tuple[float, float]:
    """The 5th and 95th percentiles (linear interpolation between closest ranks)."""
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return cuts[0], cuts[-1]


def test_html_report_is_written_at_session_end_and_self_contained(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    setup_models(fake_ollama)
    result = run_bench(pytester, fake_ollama, "--ollama-html=out/report.html")
    result.assert_outcomes(passed=3, failed=3, skipped=3)
    result.stdout.fnmatch_lines(["ollama-bench: HTML report written to out/report.html"])
    html = (pytester.path / "out" / "report.html").read_text(encoding="utf-8")
    assert [p.name for p in (pytester.path / "out").iterdir()] == ["report.html"]  # atomic
    assert html.startswith("<!DOCTYPE html>")
    assert EXTERNAL.search(html) is None, EXTERNAL.search(html)
    assert "<link" not in html
    # the sections, in order; no load section without load results
    order = [html.index(f'id="{s}"') for s in ("run", "tests", "history", "skipped")]
    assert order == sorted(order)
    assert 'id="load"' not in html
    # the gate miss comes first, in the red block, before any test
    alerts = html[html.index('id="alerts"') : html.index('id="tests"')]
    assert "1 gate missed" in alerts
    assert "test_arithmetic[llama3.2]: ttft_ms median" in alerts
    assert "&gt; max_ttft_ms 100" in alerts
    assert '<span class="verdict bad">failed</span>' in html
    # an answer is text, never markup
    assert MARKUP_ANSWER not in html
    assert "4 &lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;" in html
    # per test: 3 bar charts + 3 round charts, each an inline svg
    tests = section(html, "tests")
    assert tests.count('<figure class="chart"') == 3 * 6
    assert tests.count("<svg") == 3 * 6
    assert tests.count('data-kind="bars"') == tests.count('data-kind="rounds"') == 9
    # the numbers shown are the record's
    report = Report.model_validate_json((pytester.path / ".ollama-bench/latest.json").read_text())
    case = next(c for c in report.cases if c.nodeid.endswith("test_generate[qwen2.5:0.5b]"))
    row = re.search(rf'<tr data-case="{re.escape(case.nodeid)}".*?</tr>', tests, re.S)
    assert row is not None
    for name in ("ttft_ms", "tokens_per_s"):
        median = case.stats[name].median
        cell = f'data-metric="{name}" data-stat="median" data-value="{median!r}">{median:.1f}<'
        assert cell in row.group(0)
    # the bars: each model's median with a whisker from p5 to p95 of its measured rounds,
    # drawn to scale (one scale for the bars of a chart)
    arithmetic = card(tests, "test_bench.py::test_arithmetic")
    cases = {c.model: c for c in report.cases if c.test == "test_bench.py::test_arithmetic"}
    for name in ("ttft_ms", "tpot_ms", "tokens_per_s"):
        bars = drawn_bars(chart(arithmetic, name, "bars"))
        assert set(bars) == {"llama3.2", "qwen2.5:0.5b"}  # the measured ones
        scales = []
        for model, (top, high, low, base) in bars.items():
            rounds = [r for call in cases[model].calls for r in call.rounds if not r.warmup]
            values = [getattr(r, name) for r in rounds]
            median, (p5, p95) = statistics.median(values), p5_p95(values)
            assert cases[model].stats[name].median == pytest.approx(median)
            label = f"{model}: median {median:.1f}, p5 {p5:.1f}, p95 {p95:.1f} "
            assert label in chart(arithmetic, name, "bars")
            if median == 0:  # a fast stream's chunks can share a timestamp: no bar to scale
                assert base == pytest.approx(top)
                continue
            scale = (base - top) / median  # pixels per unit
            scales.append(scale)
            assert (base - high) / scale == pytest.approx(p95, rel=1e-3)
            assert (base - low) / scale == pytest.approx(p5, rel=1e-3)
        assert scales
        assert all(s == pytest.approx(scales[0], rel=1e-3) for s in scales)
    # every round a dot; the warmup rounds marked: grey, in a series of their own
    dots = series_labels(chart(arithmetic, "ttft_ms", "rounds"))
    assert ">warmup rounds</text>" in chart(arithmetic, "ttft_ms", "rounds")
    warmups = [
        f"{model}, warmup: {r.ttft_ms:.1f} ms"
        for model, case in cases.items()
        for call in case.calls
        for r in call.rounds
        if r.warmup
    ]
    assert len(warmups) == 2  # one per model
    assert dots.pop("#b0b0b0") == warmups
    assert sorted(label for labels in dots.values() for label in labels) == sorted(
        f"{model}, round {n}: {r.ttft_ms:.1f} ms"
        for model, case in cases.items()
        for n, r in enumerate((r for call in case.calls for r in call.rounds if not r.warmup), 1)
    )
    # the gates with their margins: value, rule and limit, headroom (negative: missed)
    gates = text_rows(arithmetic, "gates") + text_rows(
        card(tests, "test_bench.py::test_generate"), "gates"
    )
    recorded = [
        (c.model, g)
        for test in ("test_bench.py::test_arithmetic", "test_bench.py::test_generate")
        for c in report.cases
        if c.test == test and c.gates
        for g in c.gates
    ]
    assert len(gates) == len(recorded) == 2 * 1 + 2 * 3
    units = {"ttft_ms": " ms", "total_ms": " ms", "tokens_per_s": " tok/s", "eval_count": ""}
    for row, (model, g) in zip(gates, recorded, strict=True):
        assert g.value is not None
        headroom = g.limit - g.value if g.op in ("<=", "<") else g.value - g.limit
        margin = f"{headroom:+.1f}{units[g.metric]}"
        if g.limit:
            margin += f" ({headroom / abs(g.limit) * 100:+.0f}%)"
        assert row == [
            model,
            f"{g.threshold} ({g.source})",
            f"{g.metric} {g.stat} {g.op} {g.limit:g}",
            f"{g.value:.1f}",
            margin,
            "held" if g.passed else "missed",
        ]
        assert g.passed == (headroom >= 0 if g.op in ("<=", ">=") else headroom > 0)
    assert {(row[0], row[1], row[-1]) for row in gates} >= {
        ("llama3.2", "max_ttft_ms (marker)", "missed"),
        ("qwen2.5:0.5b", "max_ttft_ms (marker)", "held"),
        ("llama3.2", "total_ms.max<60000 (marker)", "held"),
        ("qwen2.5:0.5b", "eval_count>0 (marker)", "held"),
    }
    # skipped and failed cases with their reasons
    skipped = section(html, "skipped")
    assert skipped.count("not available on") == 3
    assert "ollama pull nope" in skipped
    assert skipped.count('<span class="badge failed">') == 3
    assert "assert &#x27;5&#x27; in" in skipped
    # one run so far: no history chart yet
    assert "from the second run on" in section(html, "history")


def facts(html: str) -> dict[str, str]:
    """The header's facts as text: ``{"when": "2026-11-30 09:10:11 UTC", ...}``."""
    header = re.search(r'<dl class="facts">(.*?)</dl>', html, re.S)
    assert header, "no facts in the header"
    pairs = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", header.group(1), re.S)
    return {k: unescape(re.sub(r"<[^>]+>", "", v)) for k, v in pairs}


#: A GPU as ``nvidia-smi --query-gpu=name,memory.total,driver_version`` prints it.
NVIDIA_SMI = "#!/bin/sh\necho 'NVIDIA GeForce RTX 4090, 24564, 550.54.14'\n"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid",
         "-c", "init.defaultBranch=bench", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_html_report_under_xdist_is_written_once_by_the_controller_with_the_runs_facts(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_models(fake_ollama)
    pytester.makepyfile(test_bench=BENCH)
    # the project is a git work tree, and the machine has a GPU (its tool on PATH)
    git(pytester.path, "init", "-q")
    git(pytester.path, "commit", "-q", "--allow-empty", "-m", "the code under test")
    tools = pytester.mkdir("tools")
    (tools / "nvidia-smi").write_text(NVIDIA_SMI)
    (tools / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    result = pytester.runpytest_subprocess(
        "-n", "2", f"--ollama-host={fake_ollama.url}", MODELS, "--ollama-html=r.html"
    )
    result.assert_outcomes(passed=3, failed=3, skipped=3)
    result.stdout.fnmatch_lines(["ollama-bench: HTML report written to r.html"])
    html = (pytester.path / "r.html").read_text(encoding="utf-8")
    rows = re.findall(r'<tr data-case="([^"]+)" data-model="([^"]+)">', section(html, "tests"))
    assert len(rows) == 6  # every measured case, from both workers
    assert len(set(rows)) == 6
    # the header: when, where, the machine, its GPUs, the commit and the counts, as recorded
    report = Report.model_validate_json((pytester.path / ".ollama-bench/latest.json").read_text())
    shown = facts(html)
    assert shown["when"] == f"{report.created_at:%Y-%m-%d %H:%M:%S} UTC"
    assert report.host == fake_ollama.url
    assert report.ollama_version == "0.33.0"  # the emulator's /api/version
    assert shown["server"] == f"{fake_ollama.url} (native API, Ollama 0.33.0)"
    system = report.system
    assert system is not None
    machine = [system.os, system.os_release, system.machine, system.python_version]
    machine += [system.cpu_model or system.machine]
    if system.ram_total_mb:
        machine.append(f"{system.ram_total_mb / 1024:.1f} GiB RAM")
    assert all(fact in shown["machine"] for fact in machine), (machine, shown["machine"])
    assert [(g.name, g.memory_total_mb) for g in system.gpus] == [
        ("NVIDIA GeForce RTX 4090", 24564)
    ]
    assert shown["GPUs"] == "NVIDIA GeForce RTX 4090 (24 GiB)"
    commit = git(pytester.path, "rev-parse", "HEAD")
    assert report.git is not None
    assert (report.git.commit, report.git.branch) == (commit, "bench")
    assert shown["git"] == f"{commit[:12]} on bench"
    outcomes = [c.outcome for c in report.cases]
    assert (outcomes.count("passed"), outcomes.count("failed"), outcomes.count("skipped")) == (
        3, 3, 3
    )  # fmt: skip
    counts = re.search(r'<span class="counts">(.*?)</span>', html)
    assert counts is not None
    assert counts.group(1) == "9 cases in 3 tests: 3 passed, 3 failed, 3 skipped"


def test_html_report_after_ctrl_c_shows_what_completed(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_a_done(ollama_bench):
            ollama_bench.chat("2+2?")

        def test_b_ctrl_c():
            raise KeyboardInterrupt
        """
    )
    result = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2", "--ollama-html=r.html",
        no_reraise_ctrlc=True,
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.INTERRUPTED
    html = (pytester.path / "r.html").read_text(encoding="utf-8")
    assert '<span class="verdict bad">interrupted</span>' in html
    assert "The run was interrupted" in html
    assert "test_a_done[llama3.2]" in section(html, "tests")


def test_html_command_builds_the_same_page_from_saved_runs(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    setup_models(fake_ollama)
    gate = "--ollama-compare-fail=ttft_ms:150ms"  # absolute: the 5 ms model's jitter stays in
    run_bench(pytester, fake_ollama, gate, "--ollama-html=first.html")
    setup_models(fake_ollama, llama_ttft_ms=400)  # llama3.2 regresses
    second = run_bench(pytester, fake_ollama, gate, "--ollama-html=second.html")
    assert second.ret == pytest.ExitCode.TESTS_FAILED
    session = (pytester.path / "second.html").read_text(encoding="utf-8")
    built = cli(pytester.path, "html", "-o", "built.html")
    assert built.returncode == 0, built.stderr
    assert re.fullmatch(r"HTML report of \S+0002_\S+\.json written to built\.html \(\d+ KiB\)\n",
                        built.stdout)  # fmt: skip
    assert (pytester.path / "built.html").read_text(encoding="utf-8") == session
    # the regression: first in red, and marked in the history against the baseline run 0001
    alerts = session[session.index('id="alerts"') : session.index('id="tests"')]
    # llama3.2's one case that passed in run 0001 (a failed case gives no baseline)
    assert "1 regression against the baseline (ttft_ms:150ms)" in alerts
    assert "test_generate[llama3.2] ttft_ms median" in alerts
    assert "<dt>baseline</dt><dd>run 0001 of 20" in session
    history = section(session, "history")
    assert "2 runs, oldest first; the baseline is run 0001" in history
    assert "a red dot marks a run worse than the baseline by more than ttft_ms:150ms" in history
    regressed = re.findall(r'data-kind="history" data-case="([^"]+)" data-model="([^"]+)">'
                           r"(?:(?!</figure>).)*?regression: run 0002", history, re.S)  # fmt: skip
    assert {model for _, model in regressed} == {"llama3.2"}
    assert history.count("baseline: run 0001") >= 4  # every chart of every measured case
    # explicit runs: the last is the report, the others its history
    first_only = cli(pytester.path, "html", "1", "-o", "one.html")
    assert first_only.returncode == 0, first_only.stderr
    assert (pytester.path / "one.html").read_text(encoding="utf-8") == (
        pytester.path / "first.html"
    ).read_text(encoding="utf-8")
    [first_file] = (pytester.path / ".ollama-bench" / "runs").glob("0001_*.json")
    by_path = cli(pytester.path, "html", str(first_file.relative_to(pytester.path)), "-o", "p.html")
    assert by_path.returncode == 0, by_path.stderr
    assert (pytester.path / "p.html").read_text(encoding="utf-8") == (
        pytester.path / "first.html"
    ).read_text(encoding="utf-8")
    missing = cli(pytester.path, "html", "7")
    assert missing.returncode == 2
    assert "no saved run number 0007" in missing.stderr


def test_html_history_shows_the_last_n_runs(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    setup_models(fake_ollama)
    for _ in range(2):
        run_bench(pytester, fake_ollama)
    run_bench(pytester, fake_ollama, "--ollama-html=r.html", "--ollama-html-history=2")
    history = section((pytester.path / "r.html").read_text(encoding="utf-8"), "history")
    assert history.startswith('<h2>History</h2><p class="note">2 runs, oldest first.</p>')
    assert "run 0003: median" in history
    assert "run 0002: median" in history
    assert "run 0001" not in history


def test_html_without_pygal_is_a_usage_error_before_any_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("import sys\nsys.modules['pygal'] = None  # as if not installed\n")
    pytester.makepyfile("def test_never():\n    raise AssertionError('ran')\n")
    result = pytester.runpytest_subprocess("--ollama-html=r.html")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert re.search(
        r"^ERROR: --ollama-html: the HTML report draws its charts with pygal, which cannot be "
        rf"imported here \(.+\); install it with: {re.escape(HTML_EXTRA_HINT)}$",
        result.stderr.str(),
        re.M,
    )
    assert not (pytester.path / "r.html").exists()
    script = (
        "import sys; sys.modules['pygal'] = None\n"
        "from pytest_ollama_bench.cli import main\n"
        "sys.exit(main(['html']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=pytester.path, check=False)  # fmt: skip
    assert done.returncode == 2
    assert f"install it with: {HTML_EXTRA_HINT}" in done.stderr
    opt = next(o for o in options.OPTIONS if o.flag == "--ollama-html")
    assert HTML_EXTRA_HINT in opt.help


def test_html_modules_are_not_imported_at_start_up(pytester: pytest.Pytester) -> None:
    probe = (
        "import sys, pytest_ollama_bench.plugin\n"
        "print(sorted(m for m in sys.modules if 'pygal' in m or 'htmlreport' in m))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert done.stdout == "[]\n"
    pytester.makeconftest(
        """
        import sys

        def pytest_unconfigure(config):
            loaded = sorted(m for m in sys.modules if 'pygal' in m or 'htmlreport' in m)
            open('loaded.txt', 'w').write(repr(loaded))
        """
    )
    pytester.makepyfile("def test_x():\n    pass\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    assert (pytester.path / "loaded.txt").read_text() == "[]"


def test_an_unwritable_html_path_is_a_warning(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_ok(ollama_bench):
            ollama_bench.chat("2+2?")
        """
    )
    (pytester.path / "taken").mkdir()
    result = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2", "--ollama-html=taken"
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["ollama-bench: warning: cannot write the HTML report to taken: *"])


#: A conftest that makes the disk "full" for the session: no file may grow past LIMIT bytes
#: (writes beyond it fail with EFBIG; Python ignores the SIGXFSZ that comes with them).
FULL_DISK = """
import resource

_, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, hard))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="no file size limit (RLIMIT_FSIZE) there")
def test_a_report_that_cannot_be_written_whole_leaves_the_old_one_intact(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_ok(ollama_bench):
            ollama_bench.chat("2+2?")
        """
    )
    args = (f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2", "--ollama-no-save")
    pytester.runpytest(*args, "--ollama-html=out/report.html").assert_outcomes(passed=1)
    report = pytester.path / "out" / "report.html"
    old = report.read_bytes()
    assert old.endswith(b"</html>\n")
    # the next session's disk fills up while the page is written: the old page stays, whole
    limit = 16 * 1024
    assert len(old) > 2 * limit
    pytester.makeconftest(FULL_DISK.format(limit=limit))
    result = pytester.runpytest_subprocess(*args, "--ollama-html=out/report.html")
    assert result.ret == pytest.ExitCode.OK  # a page that cannot be written fails no test
    result.stdout.fnmatch_lines(
        ["ollama-bench: warning: cannot write the HTML report to out/report.html: File too large"]
    )
    assert report.read_bytes() == old
    assert [p.name for p in report.parent.iterdir()] == ["report.html"]  # no part left behind


def test_the_load_section_draws_load_results(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    setup_models(fake_ollama)
    run_bench(pytester, fake_ollama)
    report = RunStore(pytester.path / ".ollama-bench").load("latest")
    assert load_series(report) == []  # the record holds no load results yet
    html = render_html(report, load=[sweep()])
    load = section(html, "load")
    order = [html.index(f'id="{s}"') for s in ("tests", "load", "history")]
    assert order == sorted(order)
    assert load.count('<figure class="chart" data-kind="load">') == 2
    assert "saturation at concurrency 4" in load
    assert "SLO 2000 ms" in load
    assert '<tr class="miss"><td class="num">4</td>' in load  # the saturation level's row
    assert "6.10 req/s" in load  # a point's label, from its level


def xy_series(svg: str) -> dict[str, dict[str, list[Any]]]:
    """The series of an XY chart by legend: ``points`` (x, y) in data units (their values as
    pygal prints them), ``labels`` (hover text), ``lines`` (each line's y in pixels), and the
    ``style`` rule of the series."""
    names = dict(re.findall(r'id="activate-serie-(\d+)"[^>]*>.*?<text[^>]*>([^<]*)</text>', svg,
                            re.S))  # fmt: skip
    parts = re.split(r'<g class="series serie-(\d+) color-\d+"\s*/?>', svg)[1:]
    out: dict[str, dict[str, list[Any]]] = {
        name: {"points": [], "labels": [], "lines": [], "style": []} for name in names.values()
    }
    for index, content in zip(parts[::2], parts[1::2], strict=True):
        series = out[names[index]]
        series["points"] += [(float(x), float(y)) for x, y in
                             re.findall(r'<desc class="value">([-\d.e+]+): ([-\d.e+]+)</desc>',
                                        content)]  # fmt: skip
        series["labels"] += re.findall(r'<desc class="label">([^<]*)</desc>', content)
        series["lines"] += [
            [float(y) for y in re.findall(r"[ML]?[-\d.]+ ([-\d.]+)", d)]
            for d in re.findall(r'<path d="([^"]+)" class="line reactive', content)
        ]
        series["style"] += re.findall(rf"\.series\.serie-{index}\{{([^}}]*)\}}", svg)
    return out


def y_pixel(svg: str, value: float) -> float:
    """Where ``value`` is drawn on the y axis of ``svg`` (pixels), from its labelled guides."""
    guides = [(float(label), float(y)) for y, label in re.findall(
        r'<path d="M0\.000000 ([\d.]+) h[\d.]+" class="[^"]*line" /><text [^>]*>([\d.]+)</text>',
        svg)]  # fmt: skip
    (v0, y0), (v1, y1) = guides[0], guides[-1]
    return y0 + (value - v0) * (y1 - y0) / (v1 - v0)


RATE_SWEEP = """
import pytest

@pytest.mark.llm_bench(warmup=0)
def test_rates(ollama_bench):
    sweep = ollama_bench.sweep("hi", rates=[10, 40, 80], requests=16, slo={"ttft_ms": 2000})
    print("SATURATION", sweep.saturation)
"""


def test_a_rate_sweep_is_drawn_against_the_request_rate_with_its_slo_and_saturation(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_capacity=RATE_SWEEP)
    # one slot, a request holding it ~50 ms: about 20 requests/s at most, so 40/s saturates
    # (16 requests a level: the two saturated levels last ~0.8 s each, long against a stall)
    five = ["one ", "two ", "three ", "four ", "five."]
    with FakeOllama(["llama3.2"], parallel=1, max_queue=None, ttft_ms=30, itl_ms=5,
                    tokens=five) as fake:  # fmt: skip
        result = pytester.runpytest(
            f"--ollama-host={fake.url}", "--ollama-models=llama3.2", "--ollama-html=r.html",
            "--ollama-json=run.json", "--ollama-no-save", "-s",
        )  # fmt: skip
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*SATURATION 40.0"])
    report = Report.model_validate_json((pytester.path / "run.json").read_text())
    (case,) = report.cases
    runs = case.load
    assert [(r.mode, r.rate, r.saturation, r.slo) for r in runs] == [
        ("rate", level, 40, {"ttft_ms": 2000}) for level in (10, 40, 80)
    ]
    html = (pytester.path / "r.html").read_text(encoding="utf-8")
    load = section(html, "load")
    assert load.count('<article class="card load"') == 1
    assert "saturation at rate 40" in load
    # the table: a row per rate, the saturation's marked
    assert "<thead><tr><th>rate</th><th>req/s</th>" in load
    assert text_rows(load, "load") == [
        [f"{r.rate:g}", f"{r.request_throughput:.2f}", f"{r.output_throughput:.1f}",
         f"{r.stats['ttft_ms'].p99:.1f}", "0"]
        for r in runs
    ]  # fmt: skip
    assert re.findall(r'<tr class="miss"><td class="num">([^<]*)</td>', load) == ["40"]
    # both charts against the request rate; each level's point at its rate, labelled
    throughput, ttft = re.findall(r'<figure class="chart" data-kind="load">(<svg.*?</svg>)',
                                  load, re.S)  # fmt: skip
    for svg in (throughput, ttft):
        assert 'class="title">request rate (req/s)</text>' in svg
    drawn = xy_series(throughput)
    assert drawn["throughput"]["points"] == [
        (r.rate, pytest.approx(r.request_throughput, rel=1e-5)) for r in runs
    ]
    assert drawn["throughput"]["labels"] == [f"{r.request_throughput:.2f} req/s" for r in runs]
    p99 = [r.stats["ttft_ms"].p99 for r in runs]
    drawn_ttft = xy_series(ttft)
    assert drawn_ttft["ttft (ms) p99"]["points"] == [
        (r.rate, pytest.approx(v, rel=1e-5)) for r, v in zip(runs, p99, strict=True)
    ]
    assert drawn_ttft["ttft (ms) p99"]["labels"] == [f"p99 {v:.1f} ms" for v in p99]
    # the saturation point: one marker on each chart, at 40/s
    assert [x for x, _ in drawn["saturation"]["points"]] == [40]
    assert [x for x, _ in drawn_ttft["saturation"]["points"]] == [40]
    # the SLO: a dashed horizontal line at 2000 ms
    (slo,) = drawn_ttft["SLO 2000 ms"]["lines"]
    assert len(slo) == 3
    assert slo == [pytest.approx(y_pixel(ttft, 2000), abs=0.01)] * 3
    assert y_pixel(ttft, 2000) < y_pixel(ttft, max(p99))  # above the measured p99s
    assert "stroke-dasharray:6,4" in drawn_ttft["SLO 2000 ms"]["style"][0]
    assert "SLO" not in throughput  # the TTFT objective belongs to the TTFT chart
    # the load test has no card of per-call charts claiming the server reported nothing
    tests = section(html, "tests")
    assert "not reported by the server" not in tests
    assert '<a href="#load">' in card(tests, "test_capacity.py::test_rates")


def test_recent_runs_skip_unreadable_files(tmp_path: Path, fake_ollama: FakeOllama) -> None:
    store = RunStore(tmp_path)
    base = Report.model_validate(
        {"plugin_version": "0", "created_at": "2026-01-01T00:00:00Z", "host": "h", "settings": {}}
    )
    first = store.save(base)
    store.save(base.model_copy(update={"host": "h2"}))
    (store.runs_dir / "0003_broken.json").write_text("{")
    third = store.save(base.model_copy(update={"host": "h4"}))
    assert [(label, r.host) for label, r in store.recent(10)] == [
        ("0001", "h"), ("0002", "h2"), ("0004", "h4"),
    ]  # fmt: skip
    assert [label for label, _ in store.recent(2)] == ["0002", "0004"]
    assert [label for label, _ in store.recent(5, until=first)] == ["0001"]
    assert third.name.startswith("0004_")


def test_gate_values_and_margins_keep_their_metrics_precision() -> None:
    """A pass rate of 0.95 against a limit of 0.9 shows as 0.95 with +0.05 to spare, not as
    0.9 (one decimal) beside its own limit."""
    from datetime import datetime
    from datetime import timezone

    from pytest_ollama_bench.models import CaseRecord
    from pytest_ollama_bench.models import GateResult
    from pytest_ollama_bench.settings import Settings

    gate = GateResult(
        metric="pass_rate", stat="mean", op=">=", limit=0.9, threshold="min_pass_rate",
        source="marker", value=0.95, rounds=20, passed=True, message="",
    )  # fmt: skip
    case = CaseRecord(nodeid="t.py::test_a[m]", test="t.py::test_a", model="m", gates=[gate])
    report = Report(
        plugin_version="0", created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), host="h",
        settings=Settings(), cases=[case],
    )  # fmt: skip
    gates = unescape(render_html(report).split("<h4>Gates</h4>", 1)[1].split("</table>", 1)[0])
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>.*?</td>", gates)]
    assert cells[3:] == ["0.95", "+0.05 (+6%)", "held"]
