"""Saved runs: the numbered run history and reading report files.

Pure file handling, no pytest import. :class:`RunStore` keeps numbered reports as
``<root>/runs/NNNN_<YYYYmmddTHHMMSSZ>[_NAME].json`` plus ``<root>/latest.json``
(pytest-benchmark's numbered layout). A run's number is claimed atomically (an ``O_EXCL``
claim file ``runs/.NNNN.claim``, the next number on a clash), so sessions that finish at the
same moment get distinct numbers; a run file appears whole (written aside, then hard-linked
into place, which fails rather than replaces) and is never overwritten.
"""

from __future__ import annotations

import errno
import json
import os
import re
import uuid
from datetime import datetime
from datetime import timezone
from pathlib import Path

from pydantic import ValidationError

from . import __version__
from .models import SCHEMA_VERSION
from .models import Report
from .settings import DEFAULT_STORAGE_DIR
from .settings import VALID_RUN_NAME as _VALID_NAME
from .settings import check_run_name

__all__ = [
    "BaselineNotFound",
    "InvalidReport",
    "RunStore",
    "check_run_name",
    "load_report",
    "write_json_atomic",
]

_RUN_NAME = re.compile(r"^(\d+)_.*\.json$")
_CLAIM = re.compile(r"^\.(\d+)\.claim$")
_NAMED = re.compile(r"^\d+_\d{8}T\d{6}Z_(?P<name>.+)\.json$")
#: How many numbers a save tries before giving up (each clash moves to the next number).
_CLAIM_ATTEMPTS = 1000


class BaselineNotFound(ValueError):
    """A saved run asked for by path, number or ``latest`` does not exist."""


class InvalidReport(ValueError):
    """A file exists but is not a report this version of the plugin can read."""


def write_json_atomic(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never a part.

    The text goes to a temporary file in the same directory, is flushed to disk and then
    renamed over ``path`` with :func:`os.replace`. Parent directories are created.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = write_aside(target.parent, text, prefix=f".{target.name}")
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def write_aside(directory: Path, text: str, prefix: str = "") -> Path:
    """``text`` in a new temporary file of ``directory``, flushed to disk; returns its path.

    The name is ``<prefix>.<pid>.<random>.tmp`` (hidden). It is created with ``O_EXCL``, so
    nothing is ever written through a file someone else made; ``0o666`` lets the umask decide.
    """
    tmp = directory / f"{prefix}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable where the platform allows opening a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: What a new run history directory's ``.gitignore`` says (as pytest's cache directory does).
GITIGNORE = "# Created by pytest-ollama-bench automatically.\n*\n"


def _create_with_gitignore(root: Path) -> None:
    """Create ``root`` with a ``.gitignore`` that keeps the run history out of version control
    (only when creating it: delete the file to commit baselines)."""
    root.mkdir(parents=True, exist_ok=True)
    gitignore = root / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(GITIGNORE, encoding="utf-8")


def load_report(path: Path | str) -> Report:
    """Read and validate one report file.

    :raises BaselineNotFound: no such file.
    :raises InvalidReport: not JSON, not a report, a newer ``schema_version`` than this plugin
        reads, or fields that do not validate.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineNotFound(f"no report file {file}") from None
    except IsADirectoryError:
        raise BaselineNotFound(f"{file} is not a file; name a report file") from None
    except UnicodeDecodeError as exc:
        raise InvalidReport(
            f"{file} is not a report: not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
            f"offset {exc.start})"
        ) from None
    except OSError as exc:
        raise InvalidReport(f"cannot read report {file}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidReport(f"{file} is not JSON: {exc}") from None
    if not isinstance(data, dict) or "schema_version" not in data or "cases" not in data:
        raise InvalidReport(
            f"{file} is not a pytest-ollama-bench report (no schema_version/cases keys)"
        )
    version = data["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidReport(f"{file} has a schema_version that is not an integer: {version!r}")
    if version > SCHEMA_VERSION:
        raise InvalidReport(
            f"{file} has schema_version {version}, newer than the {SCHEMA_VERSION} that "
            f"pytest-ollama-bench {__version__} reads; upgrade pytest-ollama-bench to read it"
        )
    try:
        return Report.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        more = exc.error_count() - 5
        if more > 0:
            problems += f"; and {more} more"
        raise InvalidReport(f"{file} is not a valid report: {problems}") from None


def _link_new(source: Path, target: Path) -> bool:
    """Hard-link ``source`` as ``target``; False when ``target`` exists (it is kept).

    Where hard links are not supported the file is copied into an ``O_EXCL``-created target.
    """
    try:
        os.link(source, target)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
            raise
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(source.read_bytes())
        fh.flush()
        os.fsync(fh.fileno())
    return True


def _run_number(path: Path) -> int | None:
    match = _RUN_NAME.match(path.name)
    return int(match.group(1)) if match else None


def _utc_stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


class RunStore:
    """Numbered saved runs under ``root`` (default :data:`~.settings.DEFAULT_STORAGE_DIR`)."""

    def __init__(self, root: Path | str = DEFAULT_STORAGE_DIR) -> None:
        self.root = Path(root)

    @property
    def runs_dir(self) -> Path:
        """Where the numbered run files live."""
        return self.root / "runs"

    @property
    def latest_path(self) -> Path:
        """The copy of the most recently saved run."""
        return self.root / "latest.json"

    def runs(self) -> list[Path]:
        """Saved run files ``NNNN_*.json``, in increasing number."""
        if not self.runs_dir.is_dir():
            return []
        numbered = [
            (number, path)
            for path in self.runs_dir.iterdir()
            if path.is_file() and (number := _run_number(path)) is not None
        ]
        return [path for _, path in sorted(numbered, key=lambda np: (np[0], np[1].name))]

    def save(self, report: Report) -> Path:
        """Write ``report`` as the next numbered run and as ``latest.json``; return the run file.

        The run is named after ``report.created_at`` in UTC, and ``report.name`` when it has
        one. The number is claimed with an ``O_EXCL`` claim file, moving on to the next number
        when another session holds it; the run file is linked into place whole and an existing
        file is never replaced.

        :raises OSError: the directory cannot be created or written.
        """
        if not self.root.exists():
            _create_with_gitignore(self.root)
        text = report.model_dump_json(indent=2) + "\n"
        suffix = f"_{report.name}" if report.name else ""
        stamp = _utc_stamp(report.created_at)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        tmp = write_aside(self.runs_dir, text)
        try:
            number = self._highest_number() + 1
            for _ in range(_CLAIM_ATTEMPTS):
                path = self.runs_dir / f"{number:04d}_{stamp}{suffix}.json"
                if self._claim(number) and _link_new(tmp, path):
                    break
                number = max(number, self._highest_number()) + 1
            else:
                raise FileExistsError(
                    errno.EEXIST,
                    f"no free run number after {_CLAIM_ATTEMPTS} attempts",
                    self.runs_dir,
                )
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(self.runs_dir)
        write_json_atomic(self.latest_path, text)
        return path

    def _highest_number(self) -> int:
        """The highest run number used or claimed so far."""
        highest = 0
        for entry in os.scandir(self.runs_dir):
            match = _RUN_NAME.match(entry.name) or _CLAIM.match(entry.name)
            if match:
                highest = max(highest, int(match.group(1)))
        return highest

    def _claim(self, number: int) -> bool:
        """Create ``.NNNN.claim`` exclusively: True when this process now owns ``number``."""
        try:
            fd = os.open(
                self.runs_dir / f".{number:04d}.claim", os.O_WRONLY | os.O_CREAT | os.O_EXCL
            )
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def resolve(self, ref: str) -> Path:
        """The file ``ref`` names: a path, ``latest`` (highest number), a run number or the
        name given with ``--ollama-save NAME`` (its newest run).

        :raises BaselineNotFound: nothing matches; the message lists the saved runs.
        """
        ref = ref.strip()
        runs = self.runs()
        if ref == "latest":
            if runs:
                return runs[-1]
            raise BaselineNotFound(f"no saved run for 'latest' in {self.runs_dir}; {self._known()}")
        if ref.isascii() and ref.isdigit():
            number = int(ref)
            for path in reversed(runs):
                if _run_number(path) == number:
                    return path
            raise BaselineNotFound(
                f"no saved run number {number:04d} in {self.runs_dir}; {self._known()}"
            )
        path = Path(ref).expanduser()
        if path.is_file():
            return path
        in_runs = self.runs_dir / ref
        if in_runs.is_file():
            return in_runs
        if path.exists():
            raise BaselineNotFound(f"{path} is not a file; name a report file, not a directory")
        if _VALID_NAME.match(ref) and not ref.endswith(".json"):
            for run in reversed(runs):
                named = _NAMED.match(run.name)
                if named and named["name"] == ref:
                    return run
            raise BaselineNotFound(
                f"no saved run named {ref!r} in {self.runs_dir} (save one with --ollama-save "
                f"{ref}) and no file {path}; {self._known()}"
            )
        raise BaselineNotFound(
            f"no report file {ref!r} (looked for {path} and {in_runs}); "
            f"use a path, a run name, 'latest' or a run number; {self._known()}"
        )

    def load(self, ref: str) -> Report:
        """Load the run ``ref`` names (see :meth:`resolve`).

        :raises BaselineNotFound: nothing matches.
        :raises InvalidReport: the file is not a readable report.
        """
        return load_report(self.resolve(ref))

    def recent(self, limit: int, *, until: Path | None = None) -> list[tuple[str, Report]]:
        """The last ``limit`` readable saved runs, oldest first, as ``(NNNN, report)``.

        With ``until`` (a run file), the runs up to and including it. A file that cannot be
        read is left out (the history shows what can be shown).
        """
        runs = self.runs()
        resolved = [p.resolve() for p in runs]
        if until is not None and until.resolve() in resolved:
            runs = runs[: resolved.index(until.resolve()) + 1]
        found: list[tuple[str, Report]] = []
        for path in reversed(runs):
            if len(found) >= limit:
                break
            try:
                found.append((path.name.split("_", 1)[0], load_report(path)))
            except ValueError:
                continue
        return found[::-1]

    def _known(self) -> str:
        runs = self.runs()
        if not runs:
            return "no runs saved yet"
        names = [p.name for p in runs]
        if len(names) > 10:
            names = [*names[:3], "...", *names[-6:]]
        return f"saved runs: {', '.join(names)}"
