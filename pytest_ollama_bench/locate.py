"""Where the run history is, for commands run outside pytest: found as pytest finds its rootdir.

Pure file handling, no pytest import. pytest keeps the history under its rootdir
(``<rootdir>/.ollama-bench`` unless ``ollama_storage``/``PYTEST_OLLAMA_STORAGE`` say
otherwise), so ``python -m pytest_ollama_bench list`` run from a sub-directory of a project
finds the same directory: the first directory, from the working directory upwards, with a
pytest configuration file (``pytest.ini``, ``.pytest.ini``, ``pyproject.toml`` with a
``[tool.pytest.ini_options]`` table, ``tox.ini`` with ``[pytest]``, ``setup.cfg`` with
``[tool:pytest]``); else the first with ``setup.py``; else the first with a
``pyproject.toml``; else the working directory (pytest's rules, for a run without arguments).
"""

from __future__ import annotations

import configparser
import os
import sys
from pathlib import Path

from .settings import DEFAULT_STORAGE_DIR

__all__ = ["STORAGE_ENV", "find_rootdir", "find_storage"]

#: The environment variable of ``--ollama-storage``.
STORAGE_ENV = "PYTEST_OLLAMA_STORAGE"
_INI_KEY = "ollama_storage"


def _read_toml(path: Path) -> dict[str, object] | None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - pytest depends on tomli before 3.11
        import tomli as tomllib
    try:
        data: dict[str, object] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return data


def _ini_section(path: Path, section: str) -> dict[str, str] | None:
    """The options of ``section`` in an ini-style file, or None when it has no such section."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError, configparser.Error):
        return None
    return dict(parser[section]) if parser.has_section(section) else None


def _pytest_config(directory: Path) -> dict[str, str] | None:
    """The pytest settings of the configuration file in ``directory`` (None: there is none)."""
    for name, section in (("pytest.ini", "pytest"), (".pytest.ini", "pytest")):
        if (directory / name).is_file():
            return _ini_section(directory / name, section) or {}
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        data = _read_toml(pyproject) or {}
        tool = data.get("tool")
        pytest_table = tool.get("pytest") if isinstance(tool, dict) else None
        options = pytest_table.get("ini_options") if isinstance(pytest_table, dict) else None
        if isinstance(options, dict):
            return {str(k): str(v) for k, v in options.items()}
    for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        if (directory / name).is_file():
            found = _ini_section(directory / name, section)
            if found is not None:
                return found
    return None


def find_rootdir(start: Path | None = None) -> tuple[Path, dict[str, str]]:
    """pytest's rootdir for a run from ``start`` (default: the working directory), and the
    pytest settings of its configuration file (``{}`` when there is none)."""
    here = (start or Path.cwd()).resolve()
    candidates = [here, *here.parents]
    for directory in candidates:
        config = _pytest_config(directory)
        if config is not None:
            return directory, config
    for marker in ("setup.py", "pyproject.toml"):
        for directory in candidates:
            if (directory / marker).is_file():
                return directory, {}
    return here, {}


def find_storage(start: Path | None = None) -> Path:
    """The run history a pytest run from ``start`` would use.

    ``$PYTEST_OLLAMA_STORAGE``, else the ``ollama_storage`` ini option, else
    ``.ollama-bench``; a relative directory is taken from the rootdir (see the module).
    """
    rootdir, config = find_rootdir(start)
    chosen = os.environ.get(STORAGE_ENV, "").strip() or config.get(_INI_KEY, "").strip()
    path = Path(chosen or DEFAULT_STORAGE_DIR).expanduser()
    return path if path.is_absolute() else rootdir / path
