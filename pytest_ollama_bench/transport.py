"""How a test's benchmark data travels from the process that ran it to the controller.

It rides on an attribute of the test report, set in ``pytest_runtest_makereport``. pytest
serialises a report's attributes when pytest-xdist sends it to the controller (its
report-to-JSON copies ``report.__dict__``), so the data crosses processes as plain JSON-able
values with no channel of our own; and JUnit XML never sees it (it writes ``user_properties``).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ATTRIBUTE", "Payload", "attach", "read"]

#: The report attribute that carries a :class:`Payload` as a dict.
ATTRIBUTE = "ollama_bench"


@dataclass(frozen=True)
class Payload:
    """What one phase report of a benchmark test carries.

    :ivar test: the test's node id without the model parameter (a table's row group).
    :ivar model: the model of a fanned-out test instance, None for a test that is not.
    :ivar host: the server of the test instance (credentials removed) when the session has
        several, else None.
    :ivar cases: ``CaseRecord`` dumps (JSON mode, outcome not yet set) of the calls this phase
        made, one per model.
    """

    test: str
    model: str | None
    cases: Sequence[Mapping[str, Any]] = ()
    host: str | None = None


def attach(report: object, payload: Payload) -> None:
    """Put ``payload`` on ``report`` as plain data."""
    setattr(
        report,
        ATTRIBUTE,
        {
            "test": payload.test,
            "model": payload.model,
            "host": payload.host,
            "cases": [dict(c) for c in payload.cases],
        },
    )


def read(report: object) -> Payload | None:
    """The payload ``report`` carries, or None for a test that is not a benchmark."""
    data = getattr(report, ATTRIBUTE, None)
    if not isinstance(data, Mapping):
        return None
    model = data.get("model")
    host = data.get("host")
    cases = data.get("cases")
    return Payload(
        test=str(data.get("test") or ""),
        model=None if model is None else str(model),
        cases=[c for c in cases if isinstance(c, Mapping)] if isinstance(cases, list) else [],
        host=None if host is None else str(host),
    )
