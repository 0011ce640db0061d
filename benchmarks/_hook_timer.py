"""A pytest plugin that times the hook implementations of pytest-ollama-bench, in-process.

Used by ``pytest_overhead.py``: ``PYTHONPATH=benchmarks python -m pytest -p _hook_timer ...``
with ``POB_HOOK_TIMES=/path/out.json``. Every hook implementation registered by the plugin
module (``pytest_ollama_bench.plugin``) or by its session object (a class from
``pytest_ollama_bench.*``) is wrapped so the time spent inside it is summed per hook name;
the totals are written as JSON when the interpreter exits. Generator (wrapper) hooks are
timed step by step, so the time of the wrapped inner hooks is not counted.

Not counted: the plugin's import (measured separately with ``-X importtime``), hooks that ran
before this plugin saw the registration (``pytest_addoption``), and pluggy's own dispatch cost
per extra implementation (a loop iteration per hook call).
"""

from __future__ import annotations

import atexit
import functools
import inspect
import json
import os
import time
from collections.abc import Callable
from collections.abc import Generator
from typing import Any

_TIMES: dict[str, list[float]] = {}  # hook name -> [calls, seconds]
_WRAPPED: set[int] = set()
_clock = time.perf_counter


def _add(name: str, seconds: float) -> None:
    entry = _TIMES.setdefault(name, [0, 0.0])
    entry[0] += 1
    entry[1] += seconds


def _wrap_function(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = _clock()
        try:
            return fn(*args, **kwargs)
        finally:
            _add(name, _clock() - t0)

    return timed


def _wrap_generator(name: str, fn: Callable[..., Generator[Any, Any, Any]]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        spent = 0.0
        t0 = _clock()
        gen = fn(*args, **kwargs)
        try:
            value = next(gen)
        except StopIteration as stop:
            _add(name, _clock() - t0)
            return stop.value
        spent += _clock() - t0
        while True:
            try:
                sent = yield value
            except BaseException as exc:  # pluggy throws the inner hooks' exception in
                t0 = _clock()
                try:
                    value = gen.throw(exc)
                except StopIteration as stop:
                    _add(name, spent + _clock() - t0)
                    return stop.value
                except BaseException:
                    _add(name, spent + _clock() - t0)
                    raise
            else:
                t0 = _clock()
                try:
                    value = gen.send(sent)
                except StopIteration as stop:
                    _add(name, spent + _clock() - t0)
                    return stop.value
                except BaseException:
                    _add(name, spent + _clock() - t0)
                    raise
            spent += _clock() - t0

    return timed


def _ours(plugin: object) -> bool:
    module = getattr(plugin, "__name__", None) or type(plugin).__module__
    return isinstance(module, str) and module.startswith("pytest_ollama_bench")


def pytest_plugin_registered(plugin: object, manager: Any) -> None:
    if not _ours(plugin) or id(plugin) in _WRAPPED:
        return
    _WRAPPED.add(id(plugin))
    for caller in manager.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            fn = impl.function
            if inspect.isgeneratorfunction(fn):
                impl.function = _wrap_generator(caller.name, fn)
            else:
                impl.function = _wrap_function(caller.name, fn)


def _dump() -> None:
    path = os.environ.get("POB_HOOK_TIMES")
    if path:
        with open(path, "w") as stream:
            json.dump({"hooks": _TIMES, "plugins_wrapped": len(_WRAPPED)}, stream)


atexit.register(_dump)
