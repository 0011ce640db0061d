"""A mistyped name is an error that says what was wrong and what was likely meant, first, and
whose traceback ends at the user's line: fixture calls, load runs, SLOs, marker gates and the
command line's options."""

from __future__ import annotations

import os

import pytest

from pytest_ollama_bench.testing import FakeOllama


def esc(pattern: str) -> str:
    """``pattern`` with fnmatch's brackets matched literally."""
    return "".join({"[": "[[]", "]": "[]]"}.get(ch, ch) for ch in pattern)


def assert_no_plugin_frames(out: str) -> None:
    """No line of the plugin's code, file or docstring in ``out``."""
    assert f"pytest_ollama_bench{os.sep}" not in out
    for text in ("__tracebackhide__", ":raises", "check_fields", "plan_call", "def _plan"):
        assert text not in out


def test_a_mistyped_keyword_names_the_likely_one_at_the_callers_line(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    # pytest cuts short-summary lines to the terminal's width except under CI: as at a desk
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BUILD_NUMBER", raising=False)
    pytester.makepyfile(
        test_typo="""
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_typo(ollama_bench):
            ollama_bench.chat("hi", tool=[])
        """
    )
    result = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2", "-rf"
    )
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert_no_plugin_frames(out)
    # the traceback is the test's own line, then the error, then where: the test file
    result.stdout.fnmatch_lines(
        [
            '>       ollama_bench.chat("hi", tool=[])',
            "E       TypeError: ollama_bench.chat() got an unexpected keyword argument 'tool' "
            "(did you mean 'tools'?); valid keywords: system, options, *, and the /api/chat "
            "request fields stream, format, keep_alive, tools, *",
            "",
            "test_typo.py:5: TypeError",
        ]
    )
    # the short summary, cut to 160 columns, keeps the name and the suggestion
    (summary,) = [line for line in out.splitlines() if line.startswith("FAILED ")]
    assert len(summary) <= 160
    assert "got an unexpected keyword argument 'tool' (did you mean 'tools'?); valid" in summary
    assert summary.endswith("...")
    assert [r for r in fake_ollama.requests if r["path"] == "/api/chat"] == []


SIBLINGS = """
import pytest

def test_generate(ollama_bench):
    ollama_bench.generate("def add(a, b):", sufix="    return c")

def test_option_as_keyword(ollama_bench):
    ollama_bench.chat("hi", temprature=0)

def test_compare_endpoint(ollama_bench):
    ollama_bench.compare("hi", models=["llama3.2"], endpoint="chats")

def test_load_keyword(ollama_bench):
    ollama_bench.load("hi", concurency=2, requests=2)

def test_load_endpoint(ollama_bench):
    ollama_bench.load("hi", concurrency=1, requests=1, endpoint="generat")

def test_sweep_keyword(ollama_bench):
    ollama_bench.sweep("hi", concurrency=[1, 2], request=2)

def test_sweep_rate(ollama_bench):
    ollama_bench.sweep("hi", rate=[1, 2], requests=2)

def test_slo_column_key(ollama_bench):
    ollama_bench.load("hi", concurrency=1, requests=1, slo={"tpot": 50})

def test_slo_typo(ollama_bench):
    ollama_bench.load("hi", concurrency=1, requests=1, slo={"ttft_m": 500})

@pytest.mark.llm_bench(gates={"ttft.p95": 100})
def test_gate_metric(ollama_bench):
    ollama_bench.chat("hi")

@pytest.mark.llm_bench(gates={"ttft_ms.p59": 100})
def test_gate_stat(ollama_bench):
    ollama_bench.chat("hi")

@pytest.mark.llm_bench(stat="p50")
def test_marker_stat(ollama_bench):
    ollama_bench.chat("hi")
"""


def test_every_mistyped_name_of_a_test_gets_a_suggestion_and_no_plugin_frame(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(test_siblings=SIBLINGS)
    result = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2", "--ollama-no-save"
    )
    result.assert_outcomes(failed=9, errors=3)
    out = result.stdout.str()
    assert_no_plugin_frames(out)
    result.stdout.fnmatch_lines_random(
        [
            "E   * ollama_bench.generate() got an unexpected keyword argument 'sufix' (did you "
            "mean 'suffix'?); valid keywords: *",
            "E   * ollama_bench.chat() got an unexpected keyword argument 'temprature' (did you "
            "mean options={'temperature': ...}?); valid keywords: *",
            "E   * ollama_bench.compare(): endpoint='chats' (did you mean 'chat'?) is no "
            "endpoint; use 'chat' (/api/chat) or 'generate' (/api/generate)",
            "E   * ollama_bench.load() got an unexpected keyword argument 'concurency' (did you "
            "mean 'concurrency'?); valid keywords: concurrency, rate, *",
            "E   * ollama_bench.load(): endpoint='generat' (did you mean 'generate'?) is no *",
            "E   * ollama_bench.sweep() got an unexpected keyword argument 'request' (did you "
            "mean 'requests'?); valid keywords: concurrency, rates, requests, *",
            "E   * ollama_bench.sweep() got an unexpected keyword argument 'rate' (did you mean "
            "'rates'?); valid keywords: concurrency, rates, requests, *",
            "E   * slo= names 'tpot' (did you mean 'tpot_ms'?), which is no per-request metric *",
            "E   * slo= names 'ttft_m' (did you mean 'ttft_ms'?), which is no per-request metric *",
            esc(
                "*llm_bench(gates=...): gates['ttft.p95']: unknown metric 'ttft' (did you mean "
                "'ttft_ms'?); gates={*"
            ),
            esc(
                "*llm_bench(gates=...): gates['ttft_ms.p59']: unknown statistic 'p59' (did you "
                "mean 'p95'?); gates={*"
            ),
            "*llm_bench(stat=...) must be one of min, max, *, got 'p50' (did you mean 'median'?)",
        ]
    )
    # every failure's traceback ends in the test file, at the test's own line
    locations = [line for line in out.splitlines() if line.endswith(("Error", "Exception"))]
    assert len(locations) == 9
    assert all(line.startswith("test_siblings.py:") for line in locations), locations
    sent = [r for r in fake_ollama.requests if r["path"] in ("/api/chat", "/api/generate")]
    assert sent == []


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "--ollama-gate",
            "ttft.p95<=100",
            "invalid gate 'ttft.p95<=100': unknown metric 'ttft' (did you mean 'ttft_ms'?); "
            "METRIC*",
        ),
        (
            "--ollama-gate",
            "tokens_per_sec>=20",
            "invalid gate 'tokens_per_sec>=20': unknown metric 'tokens_per_sec' (did you mean "
            "'tokens_per_s'?); *",
        ),
        (
            "--ollama-gate",
            "ttft_ms.p50<=100",
            "invalid gate 'ttft_ms.p50<=100': unknown statistic 'p50' (did you mean 'median'?); *",
        ),
        (
            "--ollama-columns",
            "ttft,ttft_p59,tokens_per_s",
            "unknown columns ttft_p59 (did you mean 'ttft_p95'?), tokens_per_s (did you mean "
            "'tps'?); valid columns: *",
        ),
        ("--ollama-sort", "tft", "cannot sort by 'tft' (did you mean 'ttft'?); valid sort keys: *"),
        (
            "--ollama-compare-fail",
            "ttft:10%",
            "invalid compare-fail expression 'ttft:10%': unknown metric 'ttft' (did you mean "
            "'ttft_ms'?); expected *",
        ),
        (
            "--ollama-export",
            "cvs=rounds.csv",
            "unknown export format 'cvs' (did you mean 'csv'?) in 'cvs=rounds.csv'; FORMAT *",
        ),
        (
            "--ollama-api",
            "openia",
            "'openia' is not a valid value for --ollama-api (did you mean 'openai'?); expected "
            "one of native, openai",
        ),
    ],
)
def test_a_near_miss_on_the_command_line_is_a_usage_error_with_a_suggestion(
    pytester: pytest.Pytester, option: str, value: str, message: str
) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest(f"{option}={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {option}: {message}"])


def test_a_near_miss_in_the_environment_names_the_variable_and_the_suggestion(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_x(): pass")
    monkeypatch.setenv("PYTEST_OLLAMA_SORT", "tpss")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: environment variable PYTEST_OLLAMA_SORT: cannot sort by 'tpss' (did you mean "
            "'tps'?); *"
        ]
    )


def test_a_mistyped_prompt_order_names_the_likely_one() -> None:
    from pytest_ollama_bench import PromptSet

    with pytest.raises(ValueError, match=r"got 'sampel' \(did you mean 'sample'\?\)$"):
        PromptSet(("hi",), order="sampel")  # type: ignore[arg-type]
