"""What the benchmark ran on: the machine, its GPUs and the git commit.

Everything here is best effort. A missing tool, a non-zero exit, a timeout or output that does
not parse leaves a field ``None`` (or a GPU out of the list); nothing in this module raises
because the machine could not be described.

Units: every ``*_mb`` value is in MiB (2**20 bytes), the unit ``nvidia-smi`` reports in; byte
counts from psutil and ``rocm-smi`` are converted with the same divisor.

External commands go through a :data:`CommandRunner` (by default :func:`run_command`, which
applies :data:`COMMAND_TIMEOUT_S`), so the parsers can be tested on recorded output.
"""

from __future__ import annotations

import functools
import json
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from .models import GitInfo
from .models import GPUInfo
from .models import SystemInfo

__all__ = [
    "COMMAND_TIMEOUT_S",
    "NVIDIA_SMI_QUERY",
    "ROCM_SMI_QUERY",
    "CommandRunner",
    "collect_system_info",
    "detect_gpus",
    "git_info",
    "parse_cpuinfo",
    "parse_nvidia_smi",
    "parse_rocm_smi",
    "run_command",
    "system_info",
]

#: Seconds any external command (``nvidia-smi``, ``rocm-smi``, ``sysctl``, ``git``) may take.
COMMAND_TIMEOUT_S = 5.0

#: One CSV line per NVIDIA GPU: ``name, memory.total (MiB), driver_version``.
NVIDIA_SMI_QUERY: tuple[str, ...] = (
    "nvidia-smi",
    "--query-gpu=name,memory.total,driver_version",
    "--format=csv,noheader,nounits",
)

#: One JSON object per AMD card (``card0``...) plus ``system`` with the driver version.
ROCM_SMI_QUERY: tuple[str, ...] = (
    "rocm-smi",
    "--showproductname",
    "--showmeminfo",
    "vram",
    "--showdriverversion",
    "--json",
)

_MACOS_CPU_QUERY: tuple[str, ...] = ("sysctl", "-n", "machdep.cpu.brand_string")

CommandRunner = Callable[[Sequence[str]], "str | None"]
"""Runs a command line and returns its standard output, or ``None`` when it could not run,
exited non-zero or timed out. It must not raise; callers still guard against it."""

_MIB = 1024 * 1024
_NOT_AVAILABLE = frozenset({"", "n/a", "[n/a]", "[not supported]", "not supported", "unknown"})
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_ROCM_NAME_KEYS = ("card series", "device name", "card model", "card sku")
_ROCM_VRAM_KEY = "vram total memory (b)"
_ROCM_DRIVER_KEY = "driver version"


def _to_mb(n_bytes: float) -> float:
    return round(n_bytes / _MIB, 1)


# --------------------------------------------------------------------------- commands


def run_command(args: Sequence[str], timeout: float = COMMAND_TIMEOUT_S) -> str | None:
    """Run ``args`` without a shell and return its standard output.

    :param args: the program (looked up on ``PATH``) and its arguments.
    :param timeout: seconds before the command is killed.
    :returns: the decoded standard output (UTF-8, undecodable bytes replaced), or ``None`` when
        the program is not on ``PATH``, cannot be started, exits non-zero or times out.
    """
    if not args or shutil.which(args[0]) is None:
        return None
    creationflags: int = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    try:
        completed = subprocess.run(
            list(args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
            encoding="utf-8",
            errors="replace",
            creationflags=creationflags,
        )
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout


def _safe_run(runner: CommandRunner, args: Sequence[str]) -> str | None:
    """``runner(args)``, with any exception (even from an injected runner) turned into ``None``."""
    try:
        output = runner(args)
    except Exception:
        return None
    return output if isinstance(output, str) else None


# --------------------------------------------------------------------------- CPU and GPUs


def parse_cpuinfo(text: str) -> str | None:
    """The CPU model from the text of Linux's ``/proc/cpuinfo`` (its first ``model name``).

    :param text: the file's content.
    :returns: e.g. ``AMD Ryzen 9 7950X 16-Core Processor`` with runs of blanks collapsed, or
        ``None`` when no ``model name`` line has a value (e.g. many ARM boards).
    """
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "model name":
            model = " ".join(value.split())
            if model:
                return model
    return None


def _cpu_model(system: str, runner: CommandRunner, cpuinfo_path: Path) -> str | None:
    model: str | None = None
    if system == "Linux":
        try:
            model = parse_cpuinfo(cpuinfo_path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            model = None
    elif system == "Darwin":
        output = _safe_run(runner, _MACOS_CPU_QUERY)
        if output is not None:
            model = " ".join(output.split()) or None
    if model is None:
        processor = " ".join(platform.processor().split())
        model = None if _not_available(processor) else processor  # uname -p may say "unknown"
    return model


def _not_available(value: str) -> bool:
    return value.strip().lower() in _NOT_AVAILABLE


def parse_nvidia_smi(output: str) -> list[GPUInfo]:
    """Parse the output of :data:`NVIDIA_SMI_QUERY` (CSV without header or units).

    Each line is ``NVIDIA GeForce RTX 4090, 24564, 550.54.14``. The name is everything before
    the last two commas, so a comma in a name survives. ``[N/A]`` and ``[Not Supported]`` become
    ``None``; a line that does not have this shape (an error message, a memory value that is not
    a number) is skipped.

    :param output: the command's standard output.
    :returns: one entry per GPU, vendor ``NVIDIA``, memory in MiB.
    """
    gpus: list[GPUInfo] = []
    for line in output.splitlines():
        parts = [part.strip() for part in line.rsplit(",", 2)]
        if len(parts) != 3 or not parts[0] or _not_available(parts[0]):
            continue
        name, memory_text, driver_text = parts
        memory: float | None = None
        if not _not_available(memory_text):
            try:
                memory = float(memory_text)
            except ValueError:
                continue
            if memory < 0 or memory != memory:  # negative or NaN: not a reading
                continue
        driver = None if _not_available(driver_text) else driver_text
        gpus.append(GPUInfo(name=name, memory_total_mb=memory, driver=driver, vendor="NVIDIA"))
    return gpus


def _lower_keys(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(key).strip().lower(): value for key, value in mapping.items()}


def _card_index(key: str) -> int:
    digits = key[len("card") :]
    return int(digits) if digits.isdigit() else sys.maxsize


def parse_rocm_smi(output: str) -> list[GPUInfo]:
    """Parse the JSON of :data:`ROCM_SMI_QUERY` (or of ``rocm-smi --showproductname --json``).

    The output maps ``card0``, ``card1``... to objects. The name is the first non-empty of
    ``Card Series``, ``Device Name``, ``Card Model`` and ``Card SKU`` (key case varies between
    ROCm releases); ``VRAM Total Memory (B)`` gives the memory and ``system`` / ``Driver
    version`` the driver. Text printed before the JSON (warnings) is skipped.

    :param output: the command's standard output.
    :returns: one entry per card in card order, vendor ``AMD``; ``[]`` for anything unparsable.
    """
    start = output.find("{")
    if start == -1:
        return []
    try:
        data, _ = json.JSONDecoder().raw_decode(output, start)
    except ValueError:
        return []
    if not isinstance(data, Mapping):
        return []
    top = _lower_keys(data)
    driver: str | None = None
    system = top.get("system")
    if isinstance(system, Mapping):
        value = _lower_keys(system).get(_ROCM_DRIVER_KEY)
        if isinstance(value, str) and not _not_available(value):
            driver = value.strip()
    gpus: list[tuple[int, GPUInfo]] = []
    for key, card in top.items():
        if not key.startswith("card") or not isinstance(card, Mapping):
            continue
        fields = _lower_keys(card)
        name = next(
            (
                value.strip()
                for value in (fields.get(name_key) for name_key in _ROCM_NAME_KEYS)
                if isinstance(value, str) and not _not_available(value)
            ),
            None,
        )
        if name is None:
            continue
        memory: float | None = None
        vram = fields.get(_ROCM_VRAM_KEY)
        if isinstance(vram, (str, int)) and not isinstance(vram, bool):
            try:
                vram_bytes = int(vram)
            except ValueError:
                vram_bytes = -1
            if vram_bytes >= 0:
                memory = _to_mb(vram_bytes)
        gpus.append(
            (
                _card_index(key),
                GPUInfo(name=name, memory_total_mb=memory, driver=driver, vendor="AMD"),
            )
        )
    return [gpu for _, gpu in sorted(gpus, key=lambda pair: pair[0])]


def detect_gpus(
    runner: CommandRunner = run_command,
    *,
    system: str | None = None,
    machine: str | None = None,
    cpu_model: str | None = None,
) -> list[GPUInfo]:
    """The GPUs of this machine, as far as the vendor tools on ``PATH`` tell.

    NVIDIA via :data:`NVIDIA_SMI_QUERY`, AMD via :data:`ROCM_SMI_QUERY`, and on macOS with Apple
    silicon the chip itself (its CPU brand, e.g. ``Apple M2 Pro``, vendor ``Apple``, memory
    ``None`` because it is unified with the RAM). Each failure just contributes no GPU.

    :param runner: runs the vendor tools; defaults to :func:`run_command`.
    :param system: ``platform.system()`` (read when ``None``).
    :param machine: ``platform.machine()`` (read when ``None``).
    :param cpu_model: the CPU brand, used for Apple silicon.
    :returns: the GPUs found, possibly ``[]``.
    """
    system = platform.system() if system is None else system
    machine = platform.machine() if machine is None else machine
    gpus: list[GPUInfo] = []
    for query, parse in ((NVIDIA_SMI_QUERY, parse_nvidia_smi), (ROCM_SMI_QUERY, parse_rocm_smi)):
        output = _safe_run(runner, query)
        if output is None:
            continue
        try:
            gpus.extend(parse(output))
        except Exception:  # a parser bug must not cost the whole report
            continue
    is_apple_chip = cpu_model is not None and cpu_model.startswith("Apple")
    if system == "Darwin" and cpu_model and (machine == "arm64" or is_apple_chip):
        gpus.append(GPUInfo(name=cpu_model, vendor="Apple"))
    return gpus


def _call_or_none(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception:
        return None


def collect_system_info(
    runner: CommandRunner = run_command, *, cpuinfo_path: Path = Path("/proc/cpuinfo")
) -> SystemInfo:
    """Describe this machine now (uncached; :func:`system_info` is the cached version).

    :param runner: runs ``sysctl`` and the GPU tools; defaults to :func:`run_command`.
    :param cpuinfo_path: where Linux's CPU description is read from.
    :returns: OS, Python, CPU, RAM and GPUs; what cannot be read is ``None`` (or ``[]``).
    """
    system = platform.system()
    machine = platform.machine()
    cpu_model = _cpu_model(system, runner, cpuinfo_path)
    physical = _call_or_none(lambda: psutil.cpu_count(logical=False))
    logical = _call_or_none(lambda: psutil.cpu_count(logical=True))
    ram_total = _call_or_none(lambda: psutil.virtual_memory().total)
    return SystemInfo(
        os=system or sys.platform,
        os_release=platform.release(),
        machine=machine,
        hostname=platform.node() or None,
        python_version=platform.python_version(),
        python_implementation=platform.python_implementation(),
        cpu_model=cpu_model,
        cpu_cores_physical=physical if isinstance(physical, int) else None,
        cpu_cores_logical=logical if isinstance(logical, int) else None,
        ram_total_mb=_to_mb(ram_total) if isinstance(ram_total, int) else None,
        gpus=detect_gpus(runner, system=system, machine=machine, cpu_model=cpu_model),
    )


@functools.cache
def system_info() -> SystemInfo:
    """Describe this machine, once per process (the answer does not change while it runs).

    :returns: the cached :func:`collect_system_info` result; treat it as read-only.
    """
    return collect_system_info()


# --------------------------------------------------------------------------- git


def git_info(cwd: Path | None = None, runner: CommandRunner = run_command) -> GitInfo | None:
    """The commit the code under test is at, via ``git``.

    :param cwd: a directory inside the work tree; the current directory when ``None``.
    :param runner: runs ``git``; defaults to :func:`run_command` (with its timeout).
    :returns: the full ``HEAD`` sha, the branch (``None`` when ``HEAD`` is detached) and whether
        tracked files have uncommitted (staged or unstaged) changes; ``None`` outside a
        repository, in a repository without commits, or without ``git``.
    """
    base = ["git", "--no-optional-locks"]
    if cwd is not None:
        base += ["-C", str(cwd)]
    head = _safe_run(runner, [*base, "rev-parse", "--verify", "--quiet", "HEAD"])
    commit = head.strip().lower() if head is not None else ""
    if not _SHA.match(commit):
        return None
    branch_out = _safe_run(runner, [*base, "symbolic-ref", "--quiet", "--short", "HEAD"])
    branch = branch_out.strip() if branch_out is not None and branch_out.strip() else None
    status = _safe_run(runner, [*base, "status", "--porcelain", "--untracked-files=no"])
    dirty = bool(status.strip()) if status is not None else False
    return GitInfo(commit=commit, branch=branch, dirty=dirty)
