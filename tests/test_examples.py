"""The shipped examples, run the way the README says, against the emulator."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_ollama_bench.models import Report
from pytest_ollama_bench.testing import FakeOllama

EXAMPLES = Path(__file__).parent.parent / "examples"
BASE_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"  # as tests/conftest.py


@pytest.fixture
def examples(pytester: pytest.Pytester) -> pytest.Pytester:
    for example in EXAMPLES.glob("test_*.py"):
        shutil.copy(example, pytester.path / example.name)
    return pytester


def test_examples_under_xdist_bring_every_record_to_the_controller(
    examples: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    result = examples.runpytest_subprocess(
        "-n", "2", f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2,qwen2.5:0.5b",
        "--ollama-json=run.json",
    )  # fmt: skip
    result.assert_outcomes(passed=5)  # quickstart and async per model, one compare
    report = Report.model_validate_json((examples.path / "run.json").read_text())
    cases = {(c.nodeid.split("::")[-1], c.model) for c in report.cases}
    assert cases == {
        ("test_arithmetic_in_one_sentence[llama3.2]", "llama3.2"),
        ("test_arithmetic_in_one_sentence[qwen2.5:0.5b]", "qwen2.5:0.5b"),
        ("test_chat_and_generate_async[llama3.2]", "llama3.2"),
        ("test_chat_and_generate_async[qwen2.5:0.5b]", "qwen2.5:0.5b"),
        ("test_compare_models", "llama3.2"),
        ("test_compare_models", "qwen2.5:0.5b"),
    }
    # every round of every call reached the controller: warmup + measured, as the tests asked
    rounds = {
        (c.nodeid.split("::")[-1].split("[")[0], c.model): [len(k.rounds) for k in c.calls]
        for c in report.cases
    }
    assert rounds[("test_arithmetic_in_one_sentence", "llama3.2")] == [4]
    assert rounds[("test_chat_and_generate_async", "qwen2.5:0.5b")] == [3, 3]
    assert rounds[("test_compare_models", "llama3.2")] == [3]
    # and the workers' server requests match: 4 + 6 + 3 per model
    assert (
        len([r for r in fake_ollama.requests if r["path"] in ("/api/chat", "/api/generate")]) == 26
    )


@pytest.fixture
def emulator_command() -> Iterator[str]:
    command = [
        sys.executable, "-m", "pytest_ollama_bench.server", "--port", "0",
        "--model", "llama3.2", "--model", "qwen2.5:0.5b", "--ttft-ms", "5", "--itl-ms", "2",
    ]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("Ollama emulator listening on http://127.0.0.1:"), line
            yield line.split(" on ", 1)[1].split(" ", 1)[0]
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_readme_commands_against_the_emulator_command(
    examples: pytest.Pytester, emulator_command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", emulator_command)
    result = examples.runpytest(
        "test_quickstart.py", "--ollama-models=llama3.2,qwen2.5:0.5b,mistral"
    )
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(
        [
            f"ollama-bench: host={emulator_command}, api=native,*",
            "llm_bench: test_quickstart.py::test_arithmetic_in_one_sentence (3 models, 1 skipped)",
            "*skipped: mistral (model 'mistral' not available on *; run: ollama pull mistral)",
        ]
    )
