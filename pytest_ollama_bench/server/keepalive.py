"""``keep_alive``: how long a model stays loaded after a request, and unloading it after that.

Ollama keeps a model loaded for the request's ``keep_alive`` (default 5 minutes; 0 unloads at
once, a negative value keeps it forever) and reports when it will unload in ``/api/ps``
``expires_at``. Expiry is checked lazily: before a model is used again and when ``/api/ps``
lists it. Engines without ``unload`` (:class:`~.engine.SupportsUnload`) simply stay loaded.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ._go import MAX_DURATION_NS
from .engine import Engine
from .engine import SupportsUnload
from .responses import NS_PER_S

__all__ = ["KeepAlive"]


@dataclass
class _Expiry:
    deadline: float  # time.monotonic(); math.inf = forever
    wall_ns: int  # for /api/ps expires_at


class KeepAlive:
    """When each loaded model of ``engine`` expires; ``default_s`` applies without keep_alive."""

    def __init__(self, engine: Engine, default_s: float) -> None:
        self._engine = engine
        self.default_s = default_s
        self._expiry: dict[str, _Expiry] = {}  # loaded model -> when keep_alive runs out

    async def unload(self, name: str) -> None:
        """Forget the expiry of ``name`` and unload it from the engine (when it can)."""
        self._expiry.pop(name, None)
        if isinstance(self._engine, SupportsUnload):
            await self._engine.unload(name)

    async def expire_if_due(self, name: str) -> bool:
        """Unload ``name`` if its keep_alive ran out; whether it did."""
        expiry = self._expiry.get(name)
        if expiry is not None and time.monotonic() >= expiry.deadline:
            await self.unload(name)
            return True
        return False

    async def touch(self, name: str, keep_alive_ns: int | None) -> None:
        """After a request for ``name``: keep it loaded ``keep_alive_ns`` more (None: default)."""
        if keep_alive_ns is None:
            keep_alive_ns = int(self.default_s * NS_PER_S)
        if keep_alive_ns == 0:
            await self.unload(name)
            return
        if name not in self._engine.loaded():
            return
        if keep_alive_ns >= MAX_DURATION_NS:
            self._expiry[name] = _Expiry(math.inf, time.time_ns() + MAX_DURATION_NS)
        else:
            self._expiry[name] = _Expiry(
                time.monotonic() + keep_alive_ns / NS_PER_S, time.time_ns() + keep_alive_ns
            )

    def expires_wall_ns(self, name: str) -> int:
        """When ``name`` will unload (``time.time_ns()`` scale), for ``/api/ps``."""
        expiry = self._expiry.get(name)
        if expiry is not None:
            return expiry.wall_ns
        return time.time_ns() + int(self.default_s * NS_PER_S)
