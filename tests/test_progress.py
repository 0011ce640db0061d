"""Progress while benchmarks run, read from the output as it streams."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_ollama_bench.testing import FakeOllama

SLOW = """
import pytest

@pytest.mark.llm_bench(rounds=3, warmup=0)
def test_slow(ollama_bench):
    ollama_bench.chat("2+2?")
"""


def stream(cwd: Path, *args: str, env: dict[str, str] | None = None) -> list[tuple[float, str]]:
    """Run pytest in ``cwd``; every output line with the time it arrived."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})},
    ) as proc:  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic(), line.rstrip("\n")))
    return lines


def test_verbose_prints_each_round_before_the_result(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    fake_ollama.profile("llama3.2").ttft_ms = 300  # each round takes at least 0.3 s
    pytester.makepyfile(SLOW)
    lines = stream(
        pytester.path, "-v", f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2"
    )
    texts = [text for _, text in lines]
    first = next(i for i, t in enumerate(texts) if "llama3.2 round 1/3: ttft " in t)
    last = next(i for i, t in enumerate(texts) if "llama3.2 round 3/3: ttft " in t)
    result = next(i for i, t in enumerate(texts) if "::test_slow[llama3.2] PASSED" in t)
    assert texts[first - 1].endswith("::test_slow[llama3.2] ")  # under the test's name
    assert result == last + 1  # no blank line; the name again with its result
    assert first < last < result
    assert texts[first].startswith("    llama3.2 round 1/3: ttft ")
    assert " ms, total " in texts[first]
    assert texts[first].endswith(" tok/s")
    # the first round was on screen while the other two (0.3 s each, at least) still ran
    assert lines[result][0] - lines[first][0] >= 0.45


def test_nothing_extra_when_the_output_is_not_a_terminal(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(SLOW)
    lines = stream(pytester.path, f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2")
    out = "\n".join(text for _, text in lines)
    assert "round 1/3" not in out
    assert "\x1b[" not in out
    assert any(t.startswith("test_nothing_extra") and t.endswith(" [100%]") for _, t in lines)


def test_xdist_workers_print_no_progress(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(SLOW)
    lines = stream(
        pytester.path, "-v", "-n", "2", f"--ollama-host={fake_ollama.url}",
        "--ollama-models=llama3.2,qwen2.5:0.5b",
    )  # fmt: skip
    out = "\n".join(text for _, text in lines)
    assert "round 1/3" not in out
    assert "PASSED test_xdist_workers_print_no_progress.py::test_slow[llama3.2]" in out
    assert "2 passed" in out


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_a_terminal_gets_one_status_rewritten_in_place(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    import pty
    import select

    fake_ollama.profile("llama3.2").ttft_ms = 50
    pytester.makepyfile(SLOW)
    master, slave = pty.openpty()
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2",
    ]  # fmt: skip
    with subprocess.Popen(
        command, cwd=pytester.path, stdout=slave, stderr=slave, env={**os.environ, "COLUMNS": "120"}
    ) as proc:
        os.close(slave)
        output = b""
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            output += data
        proc.wait(timeout=60)
    os.close(master)
    text = output.decode("utf-8", "replace")
    line = next(part for part in text.split("\r\n") if part.startswith("test_a_terminal"))
    statuses = [s for s in line.split("\x1b[K") if "round" in s]
    assert len(statuses) == 3  # one status, rewritten for each round
    assert statuses[0].startswith(" [llama3.2 round 1/3: ttft ")
    # each status moves the cursor back over itself, and is erased before the test's letter
    assert statuses[0].endswith(f"\x1b[{len(statuses[0].split(chr(27))[0])}D")
    assert line.split("\x1b[K")[-1].lstrip().startswith(("\x1b[32m.", "."))
    assert "1 passed" in text
