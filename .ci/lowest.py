"""Print pip constraints pinning every dependency of pyproject.toml to its floor.

``python .ci/lowest.py EXTRA...`` prints ``name==floor`` for each requirement of
``[project] dependencies`` and of the named extras that has a ``>=`` bound: the lowest
versions the package allows, which .ci/run installs in a venv of their own and tests (pip has
no lowest-version resolution of its own). Tools the tests do not run (linters, type checkers,
stubs) are left out.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

ROOT = Path(__file__).resolve().parent.parent
_REQ = re.compile(r"^\s*([A-Za-z0-9._-]+)(\[[^\]]*\])?\s*(.*)$")
_NOT_FOR_TESTS = {"ruff", "mypy", "import-linter"}


def _project() -> dict:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if tomllib is not None:
        return tomllib.loads(text)["project"]
    raise SystemExit("run with Python >= 3.11 (tomllib)")


def main(extras: list[str]) -> None:
    project = _project()
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    seen = set()
    for requirement in requirements:
        match = _REQ.match(requirement.split(";")[0])
        if match is None:
            continue
        name, _, spec = match.groups()
        if name in _NOT_FOR_TESTS or name.startswith("types-"):
            continue
        floor = re.search(r">=\s*([0-9][^,\s]*)", spec)
        if floor and name not in seen:
            seen.add(name)
            print(f"{name}=={floor.group(1)}")


if __name__ == "__main__":
    main(sys.argv[1:])
