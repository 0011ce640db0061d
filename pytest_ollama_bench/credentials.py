"""Credentials for a server behind authentication, and how they are kept out of sight.

Two ways, one ``Authorization`` header, never both:

* **URL credentials** (``--ollama-host http://user:password@host``, or ``OLLAMA_HOST``): sent
  as HTTP Basic authentication, for an authenticating proxy in front of Ollama. Characters
  that end a URL's user part (``/ ? # @``) must be percent-encoded.
* **a bearer token from the environment**: ``PYTEST_OLLAMA_API_KEY`` for either API, else
  ``OLLAMA_API_KEY`` (native API, as Ollama's own client reads it) or ``OPENAI_API_KEY``
  (``--ollama-api openai``). An OpenAI-compatible server with neither gets ``Bearer ollama``
  (local servers ignore it; some insist on one).

The values live only in memory: never in :class:`~pytest_ollama_bench.settings.Settings`,
request URLs, the record or the terminal; :class:`Secret` shows as ``'***'`` in reprs
(tracebacks with ``-l`` included). Standard library only.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping

from .hosts import HostError
from .hosts import split_credentials

__all__ = ["API_KEY_VARIABLES", "Secret", "authorization"]

#: Environment variables read for a bearer token, in order, per API.
API_KEY_VARIABLES: dict[str, tuple[str, ...]] = {
    "native": ("PYTEST_OLLAMA_API_KEY", "OLLAMA_API_KEY"),
    "openai": ("PYTEST_OLLAMA_API_KEY", "OPENAI_API_KEY"),
}
_OPENAI_DEFAULT_KEY = "ollama"


class Secret(str):
    """A string that hides its value in ``repr`` (tracebacks, ``-l`` locals, debuggers)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


def _env_key(api: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    for name in API_KEY_VARIABLES.get(api, ()):
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return None


def authorization(
    host: str,
    api: str,
    *,
    api_key: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, Secret | None]:
    """``(host URL without credentials, Authorization header value or None)``.

    :param host: a :func:`~pytest_ollama_bench.hosts.parse_host` URL, credentials and all.
    :param api: ``native`` or ``openai``.
    :param api_key: a bearer token given in code (wins over the environment); ``""`` sends none.
    :raises HostError: URL credentials and a bearer token at once (the message names the
        variable, never a value).
    """
    env = os.environ if environ is None else environ
    clean, user, password = split_credentials(host)
    found = None
    if api_key is None:
        found = _env_key(api, env)
        key = found[1] if found else None
    else:
        key = api_key or None
    if user is not None or password is not None:
        if key is not None:
            source = f"environment variable {found[0]}" if found else "api_key"
            raise HostError(
                "the server URL has credentials (sent as HTTP Basic authentication) and "
                f"{source} holds an API key (sent as a Bearer token); one Authorization header "
                "carries one of them: remove the credentials from the URL or unset the key"
            )
        token = base64.b64encode(f"{user or ''}:{password or ''}".encode()).decode("ascii")
        return clean, Secret(f"Basic {token}")
    if key is None and api == "openai" and api_key is None:
        key = _OPENAI_DEFAULT_KEY
    return clean, (Secret(f"Bearer {key}") if key else None)
