"""Shared helpers of the benchmark scripts: statistics, result files, server subprocesses.

Not a benchmark itself (the leading underscore keeps it out of ``python benchmarks/*.py``
loops). Every script runs from the repository root or anywhere else: the benchmarks directory
is on ``sys.path`` because the script lives in it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
SERVERS = BENCH_DIR / "_servers.py"


# --------------------------------------------------------------------------- statistics


def percentile(values: Iterable[float], q: float) -> float:
    """Percentile ``q`` (0-100), linear interpolation (NumPy's default); NaN when empty."""
    data = sorted(values)
    if not data:
        return math.nan
    pos = (len(data) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def median(values: Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else math.nan


def median_ci(values: Iterable[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median (binomial order statistics)."""
    data = sorted(values)
    n = len(data)
    if n == 0:
        return math.nan, math.nan
    alpha = (1 - confidence) / 2
    k, cdf = 0, 0.0
    while k < n:  # largest k with P(Binomial(n, 1/2) <= k - 1) <= alpha
        p = math.comb(n, k) / 2**n
        if cdf + p > alpha:
            break
        cdf += p
        k += 1
    if k == 0:
        return data[0], data[-1]
    return data[k - 1], data[n - k]


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


# --------------------------------------------------------------------------- environment


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    """``system_info()`` of the package plus what matters for noise: load, git commit."""
    from pytest_ollama_bench.sysinfo import system_info

    info: dict[str, Any] = {"system": system_info().model_dump(mode="json")}
    info["load_average"] = load_average()
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["git_commit"] = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
        info["git_dirty"] = bool(dirty.strip())
    return info


def command_line() -> str:
    return shlex.join([Path(sys.executable).name, *sys.argv])


def write_results(name: str, payload: dict[str, Any], started: float) -> Path:
    """Write ``benchmarks/results/NAME.json`` with machine info, command and date.

    A ``--quick`` (smoke test) run writes ``NAME.quick.json`` instead, so it never replaces
    the numbers of a full run.
    """
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    if "--quick" in sys.argv[1:]:
        name += ".quick"
    doc = {
        "benchmark": name,
        "command": command_line(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - started, 2),
        "machine": machine_info(),
        **payload,
    }
    path = RESULTS_DIR / f"{name}.json"
    doc = _rounded(doc)
    text = json.dumps(doc, indent=1, default=_json_default)
    if len(text) > 1_000_000:  # large raw data: one line per top-level key is enough
        text = (
            "{\n"
            + ",\n".join(
                f"{json.dumps(k)}: {json.dumps(v, default=_json_default)}" for k, v in doc.items()
            )
            + "\n}"
        )
    path.write_text(text + "\n")
    print(f"\nresults written to {path.relative_to(REPO)}")
    return path


def _rounded(obj: Any) -> Any:
    """Floats to 4 decimals (0.1 us for ms values); NaN to None."""
    if isinstance(obj, float):
        return None if math.isnan(obj) else round(obj, 4)
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_rounded(v) for v in obj]
    return obj


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# --------------------------------------------------------------------------- servers


class ServerProcess:
    """``python benchmarks/_servers.py MODE ...`` in a subprocess, until :meth:`stop`.

    The server prints one JSON line (``{"url": ..., "control": ...}``) once it listens; that
    line is available as :attr:`info`. Stopped with SIGINT (then SIGTERM, then SIGKILL).
    """

    def __init__(self, mode: str, *args: str, timeout: float = 120.0) -> None:
        self.argv = [sys.executable, str(SERVERS), mode, *args]
        self.timeout = timeout
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self._stderr: list[str] = []

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def control(self) -> str:
        return str(self.info["control"])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> ServerProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(REPO),
        )
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        line: list[str] = []
        reader = threading.Thread(
            target=lambda: line.append(self.proc.stdout.readline() if self.proc else ""),
            daemon=True,
        )
        reader.start()
        reader.join(self.timeout)
        if not line or not line[0].strip():
            self.stop()
            raise RuntimeError(
                f"server {self.argv[2:]} did not start: {''.join(self._stderr)[-2000:]}"
            )
        self.info = json.loads(line[0])
        return self

    def _drain_stderr(self) -> None:
        assert self.proc is not None
        assert self.proc.stderr is not None
        for text in self.proc.stderr:
            self._stderr.append(text)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, 15), (signal.SIGTERM, 5)):
            proc.send_signal(sig)
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue
        proc.kill()
        proc.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cpu_seconds(pid: int) -> float | None:
    """User+system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def machine_cpu() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine so far (Linux ``/proc/stat``)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # without guest time (already in user)
    return (total - idle) / ticks, total / ticks


class CpuWindow:
    """CPU used over a window: by the machine, by this process, by other given pids.

    ``others_cores`` = machine busy cores minus this process and the watched pids: the load
    that other tenants of the machine put on it while the window ran.
    """

    def __init__(self, *pids: int) -> None:
        self.pids = pids

    def __enter__(self) -> CpuWindow:
        self._t0 = time.perf_counter()
        self._own0 = time.process_time()
        self._pid0 = [cpu_seconds(pid) for pid in self.pids]
        self._m0 = machine_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._t0
        self.own_s = time.process_time() - self._own0
        pid1 = [cpu_seconds(pid) for pid in self.pids]
        self.pid_s = [
            None if a is None or b is None else b - a for a, b in zip(self._pid0, pid1, strict=True)
        ]
        m1 = machine_cpu()
        self.machine_cores: float | None = None
        self.others_cores: float | None = None
        if self._m0 is not None and m1 is not None and self.wall_s > 0:
            busy = m1[0] - self._m0[0]
            self.machine_cores = busy / self.wall_s
            known = self.own_s + sum(x for x in self.pid_s if x is not None)
            self.others_cores = max(busy - known, 0.0) / self.wall_s

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": self.wall_s,
            "own_cpu_s": self.own_s,
            "pid_cpu_s": self.pid_s,
            "machine_busy_cores": self.machine_cores,
            "other_tenants_cores": self.others_cores,
        }


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, disable_numparse=True)
