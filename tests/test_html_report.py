"""The HTML report as a user gets it: --ollama-html at session end and the `html` command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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
    # skipped and failed cases with their reasons
    skipped = section(html, "skipped")
    assert skipped.count("not available on") == 3
    assert "ollama pull nope" in skipped
    assert skipped.count('<span class="badge failed">') == 3
    assert "assert &#x27;5&#x27; in" in skipped
    # one run so far: no history chart yet
    assert "from the second run on" in section(html, "history")


def test_html_report_under_xdist_is_written_once_by_the_controller(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    setup_models(fake_ollama)
    pytester.makepyfile(test_bench=BENCH)
    result = pytester.runpytest_subprocess(
        "-n", "2", f"--ollama-host={fake_ollama.url}", MODELS, "--ollama-html=r.html"
    )
    result.assert_outcomes(passed=3, failed=3, skipped=3)
    result.stdout.fnmatch_lines(["ollama-bench: HTML report written to r.html"])
    html = (pytester.path / "r.html").read_text(encoding="utf-8")
    rows = re.findall(r'<tr data-case="([^"]+)" data-model="([^"]+)">', section(html, "tests"))
    assert len(rows) == 6  # every measured case, from both workers
    assert len(set(rows)) == 6


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
    assert "3 regressions against the baseline (ttft_ms:150ms)" in alerts  # llama3.2's cases
    assert "test_arithmetic[llama3.2] ttft_ms median" in alerts
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
