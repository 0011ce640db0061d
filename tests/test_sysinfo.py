from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psutil
import pytest

from pytest_ollama_bench.models import GitInfo
from pytest_ollama_bench.models import GPUInfo
from pytest_ollama_bench.models import SystemInfo
from pytest_ollama_bench.sysinfo import NVIDIA_SMI_QUERY
from pytest_ollama_bench.sysinfo import ROCM_SMI_QUERY
from pytest_ollama_bench.sysinfo import CommandRunner
from pytest_ollama_bench.sysinfo import collect_system_info
from pytest_ollama_bench.sysinfo import detect_gpus
from pytest_ollama_bench.sysinfo import git_info
from pytest_ollama_bench.sysinfo import parse_cpuinfo
from pytest_ollama_bench.sysinfo import parse_nvidia_smi
from pytest_ollama_bench.sysinfo import parse_rocm_smi
from pytest_ollama_bench.sysinfo import run_command
from pytest_ollama_bench.sysinfo import system_info

NVIDIA_ONE = "NVIDIA GeForce RTX 4090, 24564, 550.54.14\n"
NVIDIA_TWO = "NVIDIA A100-SXM4-80GB, 81920, 535.104.05\nTesla T4, 15360, 535.104.05\n"
NVIDIA_FAILED = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running.\n"
)
ROCM_JSON = json.dumps(
    {
        "card0": {
            "Card Series": "AMD Instinct MI300X OAM",
            "Card Model": "0x74a1",
            "Card Vendor": "Advanced Micro Devices, Inc. [AMD/ATI]",
            "VRAM Total Memory (B)": "205822885888",
        },
        "card1": {"Card series": "Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]"},
        "system": {"Driver version": "6.7.0"},
    }
)


def _runner(outputs: dict[str, str | None]) -> CommandRunner:
    """A runner answering by program name; unknown programs are 'not on PATH'."""

    def run(args: Sequence[str]) -> str | None:
        return outputs.get(args[0])

    return run


def _raising(exc: BaseException) -> CommandRunner:
    def run(args: Sequence[str]) -> str | None:
        raise exc

    return run


# --------------------------------------------------------------------------- system info


def test_system_info_describes_this_machine_as_psutil_and_platform_do() -> None:
    info = system_info()
    assert info.os == (platform.system() or sys.platform)
    assert info.machine == platform.machine()
    assert info.python_version == platform.python_version()
    assert info.python_implementation == platform.python_implementation()
    assert info.cpu_cores_logical == psutil.cpu_count(logical=True)
    assert info.cpu_cores_physical == psutil.cpu_count(logical=False)
    assert info.ram_total_mb == round(psutil.virtual_memory().total / 2**20, 1)
    dumped = info.model_dump(mode="json")
    assert SystemInfo.model_validate(json.loads(json.dumps(dumped))) == info


def test_system_info_is_cached() -> None:
    assert system_info() is system_info()


def test_collect_system_info_uses_the_runner_and_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test   CPU @ 3.00GHz\n", encoding="utf-8")
    info = collect_system_info(_runner({"nvidia-smi": NVIDIA_ONE}), cpuinfo_path=cpuinfo)
    assert info.gpus == [
        GPUInfo(
            name="NVIDIA GeForce RTX 4090",
            memory_total_mb=24564.0,
            driver="550.54.14",
            vendor="NVIDIA",
        )
    ]
    if info.os == "Linux":
        assert info.cpu_model == "Test CPU @ 3.00GHz"


def test_collect_system_info_survives_an_unreadable_cpuinfo(tmp_path: Path) -> None:
    info = collect_system_info(_runner({}), cpuinfo_path=tmp_path / "missing")
    assert info.gpus == [] or info.os == "Darwin"


def test_no_gpu_tool_on_path_means_no_gpu() -> None:
    for system, machine in (("Linux", "x86_64"), ("Windows", "AMD64"), ("Darwin", "x86_64")):
        assert detect_gpus(_runner({}), system=system, machine=machine, cpu_model="Intel") == []


@pytest.mark.parametrize(
    ("text", "model"),
    [
        (
            "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)\n",
            "Intel(R) Xeon(R)",
        ),
        ("model name : AMD  Ryzen 9\nmodel name : other\n", "AMD Ryzen 9"),
        ("processor : 0\nBogoMIPS : 108.00\nCPU implementer : 0x41\n", None),
        ("model name :\n", None),
        ("", None),
    ],
)
def test_parse_cpuinfo(text: str, model: str | None) -> None:
    assert parse_cpuinfo(text) == model


# --------------------------------------------------------------------------- GPUs


def test_nvidia_one_gpu() -> None:
    assert detect_gpus(_runner({"nvidia-smi": NVIDIA_ONE}), system="Linux", machine="x86_64") == [
        GPUInfo(
            name="NVIDIA GeForce RTX 4090",
            memory_total_mb=24564.0,
            driver="550.54.14",
            vendor="NVIDIA",
        )
    ]


def test_nvidia_two_gpus() -> None:
    gpus = detect_gpus(_runner({"nvidia-smi": NVIDIA_TWO}), system="Linux", machine="x86_64")
    assert [(g.name, g.memory_total_mb, g.driver) for g in gpus] == [
        ("NVIDIA A100-SXM4-80GB", 81920.0, "535.104.05"),
        ("Tesla T4", 15360.0, "535.104.05"),
    ]
    assert {g.vendor for g in gpus} == {"NVIDIA"}


def test_nvidia_not_available_values_and_comma_in_name() -> None:
    gpus = parse_nvidia_smi("Weird, Name GPU, [N/A], [Not Supported]\n\n")
    assert gpus == [GPUInfo(name="Weird, Name GPU", vendor="NVIDIA")]


@pytest.mark.parametrize(
    "output",
    [
        NVIDIA_FAILED,
        "",
        "\n\n",
        "a, b\n",
        "GPU, lots, 550.1\n",
        "GPU, -5, 550.1\n",
        ", 1024, 550.1\n",
        "\x00\xff garbage",
    ],
)
def test_nvidia_garbage_gives_no_gpu(output: str) -> None:
    assert parse_nvidia_smi(output) == []
    assert detect_gpus(_runner({"nvidia-smi": output}), system="Linux", machine="x86_64") == []


def test_nvidia_garbage_line_is_skipped_but_good_lines_kept() -> None:
    gpus = parse_nvidia_smi("Tesla T4, 15360, 535.1\nWARNING: something\n")
    assert [g.name for g in gpus] == ["Tesla T4"]


def test_nvidia_nonzero_exit_gives_no_gpu() -> None:
    # run_command returns None for a non-zero exit; that is what the runner contract says.
    assert detect_gpus(_runner({"nvidia-smi": None}), system="Linux", machine="x86_64") == []


@pytest.mark.parametrize(
    "exc",
    [
        subprocess.TimeoutExpired(list(NVIDIA_SMI_QUERY), 5.0),
        subprocess.CalledProcessError(9, list(NVIDIA_SMI_QUERY)),
        FileNotFoundError("nvidia-smi"),
        RuntimeError("boom"),
    ],
)
def test_a_runner_that_raises_gives_no_gpu(exc: BaseException) -> None:
    assert detect_gpus(_raising(exc), system="Linux", machine="x86_64") == []
    info = collect_system_info(_raising(exc))
    assert info.gpus == [] or info.os == "Darwin"


def test_the_runner_gets_the_documented_queries() -> None:
    seen: list[tuple[str, ...]] = []

    def run(args: Sequence[str]) -> str | None:
        seen.append(tuple(args))
        return None

    detect_gpus(run, system="Linux", machine="x86_64")
    assert seen == [NVIDIA_SMI_QUERY, ROCM_SMI_QUERY]


def test_rocm_smi_cards() -> None:
    gpus = parse_rocm_smi("WARNING: AMD GPU device(s) is/are in a low-power state.\n" + ROCM_JSON)
    assert gpus == [
        GPUInfo(
            name="AMD Instinct MI300X OAM",
            memory_total_mb=round(205822885888 / 2**20, 1),
            driver="6.7.0",
            vendor="AMD",
        ),
        GPUInfo(name="Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]", driver="6.7.0", vendor="AMD"),
    ]
    assert detect_gpus(_runner({"rocm-smi": ROCM_JSON}), system="Linux", machine="x86_64") == gpus


@pytest.mark.parametrize(
    "output",
    ["", "not json", "[1, 2]", '{"card0": "x"}', '{"card0": {"Card Model": ""}}', "{bad"],
)
def test_rocm_smi_garbage_gives_no_gpu(output: str) -> None:
    assert parse_rocm_smi(output) == []


def test_nvidia_and_amd_together() -> None:
    runner = _runner({"nvidia-smi": NVIDIA_ONE, "rocm-smi": ROCM_JSON})
    gpus = detect_gpus(runner, system="Linux", machine="x86_64")
    assert [g.vendor for g in gpus] == ["NVIDIA", "AMD", "AMD"]


def test_apple_silicon_reports_the_chip() -> None:
    gpus = detect_gpus(_runner({}), system="Darwin", machine="arm64", cpu_model="Apple M2 Pro")
    assert gpus == [GPUInfo(name="Apple M2 Pro", vendor="Apple")]
    intel_mac = detect_gpus(
        _runner({}), system="Darwin", machine="x86_64", cpu_model="Intel(R) Core(TM) i9"
    )
    assert intel_mac == []
    assert detect_gpus(_runner({}), system="Linux", machine="arm64", cpu_model="Apple M2") == []


# --------------------------------------------------------------------------- run_command


def test_run_command_returns_stdout() -> None:
    assert run_command([sys.executable, "-c", "print('hello')"]) == "hello\n"


def test_run_command_failures_are_none() -> None:
    assert run_command(["surely-not-a-real-program-4f8e2a"]) is None
    assert run_command([]) is None
    assert run_command([sys.executable, "-c", "import sys; sys.exit(3)"]) is None


def test_run_command_timeout_is_none() -> None:
    started = time.monotonic()
    assert run_command([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.3) is None
    assert time.monotonic() - started < 10


# --------------------------------------------------------------------------- git


@pytest.fixture
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated git configuration; returns a directory to create repositories in."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Bench Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "bench@example.invalid")
    work = tmp_path / "work"
    work.mkdir()
    return work


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _repo(base: Path) -> Path:
    repo = base / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    (repo / "tracked.txt").write_text("one\n", encoding="utf-8")
    _git(repo, "add", "tracked.txt")
    _git(repo, "-c", "commit.gpgsign=false", "commit", "-q", "-m", "first")
    return repo


def test_git_info_clean(git_env: Path) -> None:
    repo = _repo(git_env)
    info = git_info(repo)
    assert info == GitInfo(commit=_git(repo, "rev-parse", "HEAD"), branch="main", dirty=False)
    assert len(info.commit) == 40


def test_git_info_from_a_subdirectory_and_untracked_files(git_env: Path) -> None:
    repo = _repo(git_env)
    sub = repo / "sub"
    sub.mkdir()
    (sub / "untracked.txt").write_text("new\n", encoding="utf-8")
    info = git_info(sub)
    assert info is not None
    assert info.branch == "main"
    assert info.dirty is False  # untracked files do not count


def test_git_info_dirty(git_env: Path) -> None:
    repo = _repo(git_env)
    (repo / "tracked.txt").write_text("two\n", encoding="utf-8")
    info = git_info(repo)
    assert info is not None
    assert info.dirty is True
    _git(repo, "add", "tracked.txt")  # staged but uncommitted is still dirty
    staged = git_info(repo)
    assert staged is not None
    assert staged.dirty is True


def test_git_info_detached(git_env: Path) -> None:
    repo = _repo(git_env)
    _git(repo, "checkout", "-q", "--detach")
    info = git_info(repo)
    assert info is not None
    assert info.branch is None
    assert info.commit == _git(repo, "rev-parse", "HEAD")
    assert info.dirty is False


def test_git_info_outside_a_repository(git_env: Path) -> None:
    assert git_info(git_env) is None
    assert git_info(git_env / "does-not-exist") is None


def test_git_info_in_a_repository_without_commits(git_env: Path) -> None:
    _git(git_env, "init", "-q")
    assert git_info(git_env) is None


def test_git_info_without_git() -> None:
    assert git_info(Path.cwd(), runner=_runner({})) is None
    assert git_info(Path.cwd(), runner=_raising(subprocess.TimeoutExpired(["git"], 5))) is None
    assert git_info(Path.cwd(), runner=_runner({"git": "fatal: garbage\n"})) is None
