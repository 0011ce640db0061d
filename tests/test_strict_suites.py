"""Installing the plugin must not change an unrelated suite's outcome (item 14 of the issue "A
regression gate and run record you can trust"): a strict suite (``filterwarnings = error``,
``--strict-config``, no asyncio ini key) of one plain test passes the same with the plugin as
without it, whatever the plugin pulls in.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from pytest_ollama_bench.testing import FakeOllama

STRICT_INI = """[pytest]
addopts = --strict-config --strict-markers
filterwarnings =
    error
"""


def _requirements() -> list[Requirement]:
    return [Requirement(r) for r in importlib.metadata.requires("pytest-ollama-bench") or []]


def test_installing_the_plugin_does_not_install_pytest_asyncio() -> None:
    unconditional = {r.name for r in _requirements() if r.marker is None}
    assert "pytest-asyncio" not in unconditional  # its deprecation warning breaks strict suites
    extras = {
        str(r.marker): r.name for r in _requirements() if r.marker and r.name == "pytest-asyncio"
    }
    assert any("asyncio" in marker for marker in extras)


def _run(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=path, capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


def test_a_plain_strict_suite_passes_the_same_with_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(STRICT_INI)
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
    # what a project has after installing only this plugin: no pytest-asyncio
    alone = ["-p", "no:asyncio", "-p", "no:anyio", "-p", "no:rerunfailures", "-p", "no:timeout"]
    with_plugin = _run(tmp_path, *alone)
    without = _run(tmp_path, *alone, "-p", "no:ollama_bench")
    assert with_plugin.returncode == without.returncode == 0, with_plugin.stdout
    assert "ollama-bench: host=" in with_plugin.stdout  # the plugin was active
    assert "1 passed" in with_plugin.stdout
    for output in (with_plugin.stdout, with_plugin.stderr):
        assert "INTERNALERROR" not in output
        assert "Warning" not in output


def test_async_benchmarks_run_without_pytest_asyncio(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    (tmp_path / "pytest.ini").write_text(STRICT_INI)
    (tmp_path / "test_async.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.anyio\n"
        "@pytest.mark.llm_bench(rounds=1, warmup=0)\n"
        "async def test_async(ollama_bench):\n"
        "    assert (await ollama_bench.achat('2+2?')).text\n"
    )
    done = _run(
        tmp_path, "-p", "no:asyncio", f"--ollama-host={fake_ollama.url}",
        "--ollama-models=llama3.2",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed in " in done.stdout
    assert " failed in " not in done.stdout


@pytest.mark.parametrize("name", ["pytest", "aiohttp", "pydantic"])
def test_the_declared_floors_are_the_tested_ones(name: str) -> None:
    floors = {r.name: r for r in _requirements() if r.marker is None}
    minimum = {"pytest": "8.2", "aiohttp": "3.12", "pydantic": "2.10"}[name]
    assert f">={minimum}" in str(floors[name].specifier)
