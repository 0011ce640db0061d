"""Resources sampled while a case runs: CPU, RAM, local Ollama processes, /api/ps VRAM."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pytest_ollama_bench.hosts import is_loopback
from pytest_ollama_bench.models import Report
from pytest_ollama_bench.models import ResourceUse
from pytest_ollama_bench.resources import ResourceSampler
from pytest_ollama_bench.resources import is_ollama_command
from pytest_ollama_bench.resources import ollama_processes
from pytest_ollama_bench.resources import vram_from_ps
from pytest_ollama_bench.testing import FakeOllama


def _dead_process() -> psutil.Process:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    proc = psutil.Process(child.pid)
    child.wait()
    return proc


# --------------------------------------------------------------------------- Ollama processes


@pytest.mark.parametrize(
    ("name", "cmdline", "expected"),
    [
        ("ollama", ["/usr/local/bin/ollama", "serve"], True),
        ("ollama", ["/usr/local/bin/ollama", "runner", "--model", "/m/blob", "--port", "1"], True),
        ("ollama.exe", ["C:\\Ollama\\ollama.exe", "serve"], True),
        ("Ollama", ["/Applications/Ollama.app/Contents/Resources/ollama", "serve"], True),
        ("ollama_llama_se", ["/tmp/ollama123/runners/cpu/ollama_llama_server"], True),
        ("ollama", ["ollama", "run", "llama3.2"], False),
        ("ollama", ["ollama", "list"], False),
        ("ollama", None, False),
        ("ollama app.exe", ["C:\\Ollama\\ollama app.exe"], False),
        ("python", ["python", "-m", "serve"], False),
        (None, ["/usr/bin/ollama", "serve"], True),
        (None, None, False),
    ],
)
def test_is_ollama_command(name: str | None, cmdline: list[str] | None, expected: bool) -> None:
    assert is_ollama_command(name, cmdline) is expected


# --------------------------------------------------------------------------- sampler


def _burn(seconds: float) -> None:
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


def test_sampler_samples_cpu_and_ram() -> None:
    sampler = ResourceSampler(interval=0.1, track_ollama=False)
    sampler.start()
    assert sampler.running
    _burn(0.5)
    use = sampler.stop()
    assert sampler.result == use
    assert use.samples >= 1
    assert use.cpu_percent_max is not None
    assert use.cpu_percent_max >= 0
    assert use.cpu_percent_mean is not None
    assert 0 <= use.cpu_percent_mean <= use.cpu_percent_max
    assert use.ram_used_mb_max is not None
    assert use.ram_used_mb_max > 0
    assert use.ram_percent_max is not None
    assert 0 < use.ram_percent_max <= 100
    assert use.ollama_rss_mb_max is None
    assert use.vram_mb is None
    assert use.model_size_mb is None
    assert sampler.stop() == use  # idempotent
    ResourceUse.model_validate(use.model_dump(mode="json"))


def test_sampler_default_interval_with_ollama_tracking() -> None:
    with ResourceSampler(find_processes=lambda: [psutil.Process()]) as sampler:
        _burn(0.5)
    use = sampler.result
    assert use is not None
    assert use.samples >= 1
    assert use.ollama_rss_mb_max is not None
    assert use.ollama_rss_mb_max > 0


def test_sampler_stop_without_start() -> None:
    assert ResourceSampler().stop() == ResourceUse(samples=0, vram_mb=None, model_size_mb=None)
    assert ResourceSampler().result is None


def test_sampler_short_run_still_has_a_sample() -> None:
    sampler = ResourceSampler(interval=5.0, track_ollama=False).start()
    started = time.monotonic()
    use = sampler.stop()
    assert time.monotonic() - started < 2.0  # the thread wakes up on stop, not after 5 s
    assert use.samples == 1


def test_sampler_tolerates_failing_and_dying_processes() -> None:
    def broken() -> list[psutil.Process]:
        raise psutil.AccessDenied(1)

    with ResourceSampler(interval=0.05, find_processes=broken) as failing:
        time.sleep(0.2)
    assert failing.result is not None
    assert failing.result.samples >= 1
    assert failing.result.ollama_rss_mb_max is None

    dead = _dead_process()
    with ResourceSampler(interval=0.05, find_processes=lambda: [dead]) as dying:
        time.sleep(0.2)
    assert dying.result is not None
    assert dying.result.ollama_rss_mb_max is None


def test_sampler_rediscovers_processes() -> None:
    calls: list[float] = []

    def find() -> list[psutil.Process]:
        calls.append(time.monotonic())
        return [_dead_process()] if len(calls) == 1 else [psutil.Process()]

    with ResourceSampler(interval=0.05, find_processes=find, rediscover_s=60) as sampler:
        time.sleep(0.3)
    assert len(calls) >= 2  # looked again after the first process was gone
    assert sampler.result is not None
    assert sampler.result.ollama_rss_mb_max is not None


def test_sampler_restart_and_double_start() -> None:
    sampler = ResourceSampler(interval=0.05, track_ollama=False)
    sampler.start()
    with pytest.raises(RuntimeError):
        sampler.start()
    first = sampler.stop()
    sampler.start()
    time.sleep(0.12)
    second = sampler.stop()
    assert first.samples >= 1
    assert second.samples >= 1


def test_sampler_rejects_a_non_positive_interval() -> None:
    with pytest.raises(ValueError):
        ResourceSampler(interval=0)


# --------------------------------------------------------------------------- /api/ps

PS_MODELS: list[dict[str, object]] = [
    {
        "name": "qwen2.5:0.5b",
        "model": "qwen2.5:0.5b",
        "size": 1_048_576_000,
        "size_vram": 0,
    },
    {
        "name": "llama3.2:latest",
        "model": "llama3.2:latest",
        "size": 3_221_225_472,
        "size_vram": 2_147_483_648,
        "digest": "a80c4f17acd5",
        "expires_at": "2025-01-01T00:05:00Z",
    },
]


@pytest.mark.parametrize(
    "wanted", ["llama3.2", "llama3.2:latest", "Llama3.2", "registry.ollama.ai/library/llama3.2"]
)
def test_vram_from_ps_normalises_names(wanted: str) -> None:
    assert vram_from_ps(PS_MODELS, wanted) == (2048.0, 3072.0)


def test_vram_from_ps_cpu_only_absent_and_partial() -> None:
    assert vram_from_ps(PS_MODELS, "qwen2.5:0.5b") == (0.0, 1000.0)
    assert vram_from_ps(PS_MODELS, "mistral") == (None, None)
    assert vram_from_ps([], "llama3.2") == (None, None)
    partial: list[object] = [None, "x", {"name": ""}, {"model": "llama3.2:latest", "size": "big"}]
    assert vram_from_ps(partial, "llama3.2") == (None, None)
    tagged = [{"name": "llama3.2:1b", "size": 2**20, "size_vram": 2**20}]
    assert vram_from_ps(tagged, "llama3.2") == (None, None)
    assert vram_from_ps(tagged, "llama3.2:1b") == (1.0, 1.0)


def test_vram_from_ps_matches_the_model_key_when_name_is_missing() -> None:
    entries = [{"model": "llama3.2:latest", "size": 2**30, "size_vram": 2**29}]
    assert vram_from_ps(entries, "llama3.2") == (512.0, 1024.0)


def test_vram_from_ps_blank_model_is_an_error() -> None:
    with pytest.raises(ValueError):
        vram_from_ps(PS_MODELS, "  ")


# --------------------------------------------------------------------------- a local server


@pytest.fixture
def fake_ollama_serve(tmp_path: Path) -> Iterator[psutil.Process]:
    """A process that looks like ``ollama serve`` (python under the name ``ollama``)."""
    exe = tmp_path / "ollama"
    os.symlink(sys.executable, exe)
    child = subprocess.Popen([str(exe), "-c", "import time; time.sleep(60)", "serve"])
    try:
        yield psutil.Process(child.pid)
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(sys.platform == "win32", reason="symlinked executables")
def test_ollama_processes_finds_a_local_server(fake_ollama_serve: psutil.Process) -> None:
    deadline = time.monotonic() + 5
    while fake_ollama_serve.pid not in {p.pid for p in ollama_processes()}:
        assert time.monotonic() < deadline, "the 'ollama serve' process was not found"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:11434", True),
        ("http://127.0.0.2:11434", True),
        ("http://localhost:11434", True),
        ("http://LOCALHOST:80", True),
        ("http://[::1]:11434", True),
        ("http://user:pw@127.0.0.1:11434/ollama", True),
        ("http://10.0.0.5:11434", False),
        ("https://gpu-box.example.com:443", False),
        ("https://ollama.com:443", False),
        ("http://[2001:db8::1]:11434", False),
    ],
)
def test_is_loopback(url: str, local: bool) -> None:
    assert is_loopback(url) is local


@pytest.mark.skipif(sys.platform == "win32", reason="symlinked executables")
def test_a_local_server_s_memory_is_recorded(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, fake_ollama_serve: psutil.Process
) -> None:
    fake_ollama.profile("llama3.2").itl_ms = 60  # long enough for a sample or two
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_one(ollama_bench):
            ollama_bench.chat("hi")
        """
    )
    result = pytester.runpytest(f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2")
    result.assert_outcomes(passed=1)
    report = Report.model_validate_json(
        (pytester.path / ".ollama-bench" / "latest.json").read_text()
    )
    resources = report.cases[0].resources
    assert resources is not None
    assert resources.ollama_rss_mb_max is not None
    assert resources.ollama_rss_mb_max > 0
