"""Resources used while a case runs: system CPU and RAM, local Ollama processes, VRAM.

Everything here is best effort: a reading that cannot be taken leaves a field ``None``; nothing
raises because the machine could not be read. Units: every ``*_mb`` value is in MiB (2**20
bytes); byte counts from psutil and Ollama's ``/api/ps`` are converted with the same divisor.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import psutil

from .availability import normalize_model_name
from .models import ResourceUse

__all__ = [
    "ResourceSampler",
    "is_ollama_command",
    "ollama_processes",
    "vram_from_ps",
]

_MIB = 1024 * 1024
_OLLAMA_NAMES = frozenset({"ollama", "ollama.exe"})
_OLLAMA_SUBCOMMANDS = frozenset({"serve", "runner"})
# Ollama before 0.4 ran models in a separate ``ollama_llama_server`` binary (Linux truncates a
# process name to 15 characters).
_LEGACY_RUNNER_PREFIX = "ollama_llama_se"


def _to_mb(n_bytes: float) -> float:
    return round(n_bytes / _MIB, 1)


# --------------------------------------------------------------------------- Ollama processes


def is_ollama_command(name: str | None, cmdline: Sequence[str] | None) -> bool:
    """Whether a process is a local Ollama server or model runner.

    True for ``ollama``/``ollama.exe`` started with ``serve`` or ``runner`` (the server spawns
    ``ollama runner ...`` per loaded model), and for the legacy ``ollama_llama_server`` runner.
    The CLI client (``ollama run``) and the desktop tray app are not counted; neither is an
    ``ollama`` process whose command line cannot be read.

    :param name: the process name (``psutil.Process.name()``), or ``None`` if unreadable.
    :param cmdline: its command line, or ``None`` if unreadable.
    :returns: whether to count it.
    """
    args = list(cmdline or [])
    base = (name or (os.path.basename(args[0]) if args else "")).strip().lower()
    if base.startswith(_LEGACY_RUNNER_PREFIX):
        return True
    if base not in _OLLAMA_NAMES:
        return False
    return any(arg in _OLLAMA_SUBCOMMANDS for arg in args[1:])


def ollama_processes() -> list[psutil.Process]:
    """The local Ollama server and runner processes, server(s) first.

    :returns: the matching processes (``[]`` when none, or when processes cannot be listed).
    """
    found: list[tuple[bool, psutil.Process]] = []
    try:
        for proc in psutil.process_iter(["name", "cmdline"]):
            info = getattr(proc, "info", {})
            name = info.get("name")
            cmdline = info.get("cmdline")
            if is_ollama_command(name if isinstance(name, str) else None, cmdline):
                found.append(("serve" not in (cmdline or []), proc))
    except Exception:
        return [proc for _, proc in found]
    found.sort(key=lambda pair: pair[0])
    return [proc for _, proc in found]


# --------------------------------------------------------------------------- sampler


class ResourceSampler:
    """Samples system CPU and RAM, and the memory of local Ollama processes, in the background.

    A daemon thread takes a sample every ``interval`` seconds (and a last one when stopped, if
    at least a quarter interval has passed since the previous one, or if there was none).
    CPU % is system-wide since the previous sample (``psutil.cpu_percent(interval=None)``,
    primed when the thread starts); RAM used is ``total - available``. Ollama processes are
    looked up when sampling starts, again every ``rediscover_s`` seconds (runners start when a
    model loads) and right after a tracked one has exited. Nothing in the thread ever raises.

    Use ``start()``/``stop()``, or ``with ResourceSampler() as sampler: ...`` and then
    ``sampler.result``. The caller fills ``vram_mb`` and ``model_size_mb`` (see
    :func:`vram_from_ps`).
    """

    def __init__(
        self,
        interval: float = 0.25,
        *,
        track_ollama: bool = True,
        find_processes: Callable[[], list[psutil.Process]] = ollama_processes,
        rediscover_s: float = 2.0,
    ) -> None:
        """Configure the sampler; nothing runs until :meth:`start`.

        :param interval: seconds between samples (must be > 0).
        :param track_ollama: sample the Ollama processes' memory (off for a remote server).
        :param find_processes: lists the processes whose RSS is summed.
        :param rediscover_s: seconds between process look-ups.
        :raises ValueError: when ``interval`` is not positive.
        """
        if not interval > 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval!r}")
        self.interval = interval
        self.track_ollama = track_ollama
        self._find_processes = find_processes
        self._rediscover_s = rediscover_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._result: ResourceUse | None = None
        self._reset()

    def _reset(self) -> None:
        self._cpu: list[float] = []
        self._ram_mb: list[float] = []
        self._ram_percent: list[float] = []
        self._ollama_mb: list[float] = []
        self._samples = 0
        self._last_sample = 0.0
        self._processes: list[psutil.Process] = []
        self._discovered_at = 0.0
        self._processes_stale = True

    @property
    def running(self) -> bool:
        """Whether the sampling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def result(self) -> ResourceUse | None:
        """What the last :meth:`stop` returned (``None`` before the first stop)."""
        return self._result

    def start(self) -> ResourceSampler:
        """Start sampling in a daemon thread; returns once CPU accounting has been primed.

        Starting again after :meth:`stop` begins a fresh series.

        :returns: ``self``.
        :raises RuntimeError: when the sampler is already running.
        """
        if self.running:
            raise RuntimeError("ResourceSampler is already running")
        with self._lock:
            self._reset()
        self._result = None
        # A fresh event per run: a thread that outlived a previous stop() still sees its own.
        self._stop = threading.Event()
        self._ready.clear()
        self._thread = threading.Thread(
            target=self._run,
            args=(self._stop,),
            name="ollama-bench-resource-sampler",
            daemon=True,
        )
        self._thread.start()
        self._ready.wait(timeout=max(1.0, self.interval))
        return self

    def stop(self) -> ResourceUse:
        """Stop sampling and aggregate the samples.

        :returns: sample count, CPU % mean and max, RAM used max (MiB and %), Ollama RSS max
            (MiB); ``ResourceUse(samples=0)`` when never started; the same result on repeated
            calls.
        """
        thread = self._thread
        if thread is None:
            if self._result is not None:
                return self._result
            return ResourceUse(samples=0, vram_mb=None, model_size_mb=None)
        self._stop.set()
        thread.join(timeout=max(2.0, 4 * self.interval))
        self._thread = None
        with self._lock:
            self._result = self._aggregate()
        return self._result

    def __enter__(self) -> ResourceSampler:
        """Start sampling (see :meth:`start`)."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop sampling; the aggregate is then in :attr:`result`."""
        self.stop()

    # ----------------------------------------------------------------- thread

    def _run(self, stop: threading.Event) -> None:
        try:
            # cpu_percent(interval=None) keeps its previous reading per thread: prime it here.
            psutil.cpu_percent(interval=None)
            self._last_sample = time.monotonic()
            if self.track_ollama:
                self._ollama_rss()
        except Exception:
            pass
        finally:
            self._ready.set()
        try:
            while not stop.wait(self.interval):
                self._sample()
            elapsed = time.monotonic() - self._last_sample
            if self._samples == 0 or elapsed >= self.interval / 4:
                self._sample()
        except Exception:  # never let an error reach threading.excepthook (pytest warns on it)
            pass

    def _sample(self) -> None:
        try:
            cpu = psutil.cpu_percent(interval=None)
        except Exception:
            cpu = None
        try:
            memory = psutil.virtual_memory()
            ram_mb: float | None = _to_mb(memory.total - memory.available)
            ram_percent: float | None = float(memory.percent)
        except Exception:
            ram_mb = ram_percent = None
        ollama_mb = self._ollama_rss() if self.track_ollama else None
        with self._lock:
            self._samples += 1
            self._last_sample = time.monotonic()
            if cpu is not None:
                self._cpu.append(float(cpu))
            if ram_mb is not None:
                self._ram_mb.append(ram_mb)
            if ram_percent is not None:
                self._ram_percent.append(ram_percent)
            if ollama_mb is not None:
                self._ollama_mb.append(ollama_mb)

    def _ollama_rss(self) -> float | None:
        now = time.monotonic()
        if self._processes_stale or now - self._discovered_at >= self._rediscover_s:
            try:
                self._processes = list(self._find_processes())
            except Exception:
                self._processes = []
            self._discovered_at = now
            self._processes_stale = False
        total = 0
        read_any = False
        for proc in self._processes:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:  # includes ZombieProcess: look again next sample
                self._processes_stale = True
                continue
            except (psutil.Error, OSError):
                continue
            read_any = True
        return _to_mb(total) if read_any else None

    def _aggregate(self) -> ResourceUse:
        return ResourceUse(
            samples=self._samples,
            cpu_percent_mean=round(sum(self._cpu) / len(self._cpu), 1) if self._cpu else None,
            cpu_percent_max=max(self._cpu, default=None),
            ram_used_mb_max=max(self._ram_mb, default=None),
            ram_percent_max=max(self._ram_percent, default=None),
            ollama_rss_mb_max=max(self._ollama_mb, default=None),
            vram_mb=None,
            model_size_mb=None,
        )


# --------------------------------------------------------------------------- /api/ps


def _byte_count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != value or value < 0:  # NaN or negative
        return None
    return int(value)


def vram_from_ps(ps_models: Sequence[Any], model: str) -> tuple[float | None, float | None]:
    """How much of ``model`` Ollama holds in VRAM, from the ``models`` list of ``GET /api/ps``.

    Entries are matched on ``name`` or ``model`` with
    :func:`~pytest_ollama_bench.availability.normalize_model_name`, so ``llama3.2`` finds
    ``llama3.2:latest``. ``size_vram`` smaller than ``size`` means part of the model spilled to
    the CPU; ``size_vram == 0`` means CPU only.

    :param ps_models: the decoded entries (objects with ``name``, ``model``, ``size``,
        ``size_vram``...); anything that is not an object is ignored.
    :param model: the model as the test named it.
    :returns: ``(size_vram MiB, size MiB)``; a missing or mistyped number is ``None``, and
        ``(None, None)`` when the model is not loaded.
    :raises ValueError: when ``model`` is empty or blank.
    """
    key = normalize_model_name(model)
    for entry in ps_models:
        if not isinstance(entry, Mapping):
            continue
        names = [entry.get("name"), entry.get("model")]
        matched = False
        for name in names:
            if not isinstance(name, str) or not name.strip():
                continue
            try:
                matched = normalize_model_name(name) == key
            except ValueError:
                matched = False
            if matched:
                break
        if not matched:
            continue
        vram = _byte_count(entry.get("size_vram"))
        size = _byte_count(entry.get("size"))
        return (
            _to_mb(vram) if vram is not None else None,
            _to_mb(size) if size is not None else None,
        )
    return None, None
