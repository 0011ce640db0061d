"""Where the Ollama server is: ``OLLAMA_HOST`` parsing by Ollama's own rules, and redaction.

Light on purpose (standard library only): the option parser imports it at pytest start-up.
"""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import unquote
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

__all__ = [
    "DEFAULT_HOST",
    "HostError",
    "host_label",
    "host_labels",
    "is_loopback",
    "parse_host",
    "redact_host",
    "split_credentials",
]

DEFAULT_HOST = "http://127.0.0.1:11434"
_DEFAULT_PORT = 11434
#: Characters that end the user-info part of a URL: in credentials they must be percent-encoded.
_NOT_IN_USERINFO = "/?#@"


class HostError(ValueError):
    """A host value that cannot be used; the message never repeats the credentials in it."""


def parse_host(value: str | None = None) -> str:
    """Base URL for ``value`` (or ``$OLLAMA_HOST`` when ``value`` is None), by Ollama's rules.

    Follows ``envconfig.Host`` of the Go CLI: surrounding spaces and quotes are trimmed, the
    scheme defaults to ``http``, the port to 11434 (80 for an explicit ``http://``, 443 for
    ``https://``), an invalid port falls back to the default, a path prefix is kept. Hosts a
    client cannot dial (empty, ``0.0.0.0``, ``::``) become the matching loopback address, as
    Ollama's ``ConnectableHost`` does.
    """
    raw = os.environ.get("OLLAMA_HOST", "") if value is None else value
    raw = raw.strip().strip("\"'").strip()
    if not raw:
        return DEFAULT_HOST
    scheme, sep, hostport = raw.partition("://")
    default_port = _DEFAULT_PORT
    if not sep:
        scheme, hostport = "http", raw
        if raw == "ollama.com":
            scheme, hostport = "https", "ollama.com:443"
    else:
        scheme = scheme.lower()
        if scheme == "http":
            default_port = 80
        elif scheme == "https":
            default_port = 443
    # user:password@ for a proxy in front of Ollama (Ollama itself has no auth): kept for the
    # connection, removed by redact_host wherever the URL is shown or stored
    userinfo, at, hostport = hostport.rpartition("@")
    if at and any(c in userinfo for c in _NOT_IN_USERINFO):
        raise HostError(
            "the credentials in the server URL contain '/', '?', '#' or '@': percent-encode "
            "them (%2F, %3F, %23, %40), e.g. http://user:p%23ss@host:11434"
        )
    hostport, slash, path = hostport.partition("/")
    host, port_text = _split_host_port(hostport)
    port = default_port
    if port_text is not None and port_text.isdigit() and 0 <= int(port_text) <= 65535:
        port = int(port_text)
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    netloc_host = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{userinfo}{at}{netloc_host}:{port}"
    path = path.rstrip("/")
    return f"{url}/{path}" if slash and path else url


def _split_host_port(hostport: str) -> tuple[str, str | None]:
    """Split like Go's ``net.SplitHostPort``, returning (host, None) when there is no port."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end != -1:
            host = hostport[1:end]
            rest = hostport[end + 1 :]
            return host, rest[1:] if rest.startswith(":") else None
    if hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
        return host, port
    try:  # a bare IPv6 address such as ::1
        return str(ipaddress.IPv6Address(hostport)), None
    except ValueError:
        return hostport, None


def redact_host(url: str) -> str:
    """``url`` without credentials or query, safe to print and to store in reports.

    Never raises: a URL that cannot be parsed is cut down to its scheme and the text after
    the last ``@`` of its authority.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        scheme, sep, rest = url.partition("://")
        authority = rest.split("/", 1)[0].rsplit("@", 1)[-1]
        return f"{scheme}{sep}{authority}" if sep else authority
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``(url without credentials, user, password)``, the credentials percent-decoded.

    For :func:`parse_host` results: the clients send the credentials as an HTTP Basic
    ``Authorization`` header and never put them in a request URL.
    """
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    clean = redact_host(url)
    user = unquote(parts.username or "")
    password = None if parts.password is None else unquote(parts.password)
    return clean, user, password


def is_loopback(url: str) -> bool:
    """Whether ``url`` (a parsed host URL) points at this machine: ``localhost`` or a loopback
    address, so that a local server process can be found and measured."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_label(url: str) -> str:
    """A server's short name for test ids and tables: its URL without scheme or credentials
    (``127.0.0.1:11434``, ``gpu1:11434/ollama``); an IPv6 address is written out without
    ``::`` (pytest separates node id parts with it): ``[0:0:0:0:0:0:0:1]:11434``."""
    shown = redact_host(url)
    rest = shown.split("://", 1)[1] if "://" in shown else shown
    if rest.startswith("["):
        address, _, tail = rest[1:].partition("]")
        try:
            groups = ipaddress.IPv6Address(address).exploded.split(":")
            rest = "[" + ":".join(g.lstrip("0") or "0" for g in groups) + "]" + tail
        except ValueError:
            pass
    return rest


def host_labels(urls: list[str] | tuple[str, ...]) -> dict[str, str]:
    """URL -> :func:`host_label` for several servers, the scheme kept where two would read
    alike (``http://h:1`` and ``https://h:1``)."""
    labels = {url: host_label(url) for url in urls}
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return {
        url: label if seen[label] == 1 else redact_host(url).split("://", 1)[0] + "://" + label
        for url, label in labels.items()
    }
