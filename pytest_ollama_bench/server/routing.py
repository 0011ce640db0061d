"""Which handler answers a request, and gin's answers when none does.

Ollama serves its API with gin behind ``allowedHostsMiddleware``: a ``Host`` header that is
not local gets an empty 403; a path with a trailing slash is redirected; a known path with
another method gets 405 with ``Allow``; anything else gets gin's ``404 page not found``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping

from aiohttp import web

from .responses import GIN_PLAIN
from .responses import Call
from .responses import response

__all__ = ["Handler", "Router", "host_kind"]

Handler = Callable[[Call], Awaitable[web.StreamResponse]]

_TREE_ORDER = ("HEAD", "GET", "POST", "DELETE")  # gin's method trees, in registration order
_MODEL_PREFIX = "/v1/models/"


def host_kind(header: str) -> str | None:
    """Ollama's ``allowedHostsMiddleware`` on a loopback-bound server.

    ``"ip"`` for loopback/private/unspecified addresses, ``"name"`` for local host names, ``None``
    when the request gets an empty HTTP 403.
    """
    host = header
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if address.is_loopback or address.is_private or address.is_unspecified:
            return "ip"
        return None
    if host in ("", "localhost") or host == socket.gethostname().lower():
        return "name"
    return "name" if host.endswith((".localhost", ".local", ".internal")) else None


class Router:
    """Routes ``path`` + method to a handler; ``model_route`` serves ``/v1/models/{model}``."""

    def __init__(self, routes: Mapping[str, Mapping[str, Handler]], model_route: Handler) -> None:
        self._routes = routes
        self._model_route = model_route

    def _methods(self, path: str) -> Mapping[str, Handler] | None:
        methods = self._routes.get(path)
        model_param = path[len(_MODEL_PREFIX) :] if path.startswith(_MODEL_PREFIX) else ""
        if methods is None and model_param and "/" not in model_param:
            methods = {"GET": self._model_route}
        return methods

    def handler(self, path: str, method: str) -> Handler | None:
        """The handler for ``method`` on ``path``, or ``None``."""
        methods = self._methods(path)
        return methods.get(method) if methods is not None else None

    def unrouted(self, request: web.BaseRequest, host_kind: str) -> web.StreamResponse:
        """gin's answers when no handler matches: redirect, 204, 405 or 404."""
        path, method = request.path, request.method
        if path != "/" and path.endswith("/") and method != "CONNECT":
            target = self._routes.get(path[:-1])
            if target is not None and method in target:
                # RedirectTrailingSlash: 301 for GET, 307 for everything else
                location = path[:-1] + (f"?{request.query_string}" if request.query_string else "")
                status = 301 if method == "GET" else 307
                headers = {"Location": location}
                body = b""
                if method in ("GET", "HEAD"):
                    headers["Content-Type"] = "text/html; charset=utf-8"
                if method == "GET":
                    body = f'<a href="{location}">Moved Permanently</a>.\n\n'.encode()
                return web.Response(status=status, body=body, headers=headers)
        if method == "OPTIONS" and host_kind == "name":
            return web.Response(status=204)  # allowedHostsMiddleware answers preflights
        methods = self._methods(path) or {}
        allowed = [m for m in _TREE_ORDER if m in methods and m != method]
        if allowed:
            answer = response(405, b"405 method not allowed", GIN_PLAIN)
            answer.headers["Allow"] = ", ".join(allowed)
            return answer
        return response(404, b"404 page not found", GIN_PLAIN)
