"""The server is a product part of its own; ``testing`` only holds what test authors import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_ollama_bench
import pytest_ollama_bench.server as server
import pytest_ollama_bench.testing as testing

PACKAGE = Path(pytest_ollama_bench.__file__).parent


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            names.add(".".join(part for part in (base, node.module or "") if part))
    return names


def test_testing_reexports_the_server_names_it_always_exported() -> None:
    for name in (
        "Engine",
        "EngineError",
        "Fault",
        "Final",
        "GenerationRequest",
        "ModelCard",
        "ModelProfile",
        "OllamaEmulator",
        "Piece",
        "SimulatedEngine",
    ):
        assert getattr(testing, name) is getattr(server, name), name
    assert set(testing.__all__) >= {"FakeOllama", "fake_ollama", "Fault", "ModelProfile"}


def test_only_the_fixture_module_of_testing_imports_pytest() -> None:
    importing = {
        path.name
        for path in (PACKAGE / "testing").glob("*.py")
        if any(name.split(".")[0] == "pytest" for name in _imports(path))
    }
    assert importing == {"fixture.py"}
    for path in (PACKAGE / "server").glob("*.py"):
        assert not any(name.split(".")[0] == "pytest" for name in _imports(path)), path.name


def test_no_production_module_imports_testing() -> None:
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "testing":
            continue
        assert not any(name.startswith("pytest_ollama_bench.testing") for name in _imports(path)), (
            path.relative_to(PACKAGE)
        )


@pytest.mark.parametrize("module", ["pytest_ollama_bench.server", "pytest_ollama_bench.testing"])
def test_both_command_names_serve_the_same_command_line(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {module} ")
    assert "--engine {llama.cpp,simulated}" in result.stdout
