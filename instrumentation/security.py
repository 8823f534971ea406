"""Checks every server of agent-audit makes the same way: the bearer token, loopback binds.

Stdlib only, so the collector, the agent service and the dashboard share them.
"""

from __future__ import annotations

import hmac
import ipaddress

__all__ = [
    "token_matches",
    "refused",
    "is_loopback",
    "url_host",
    "host_port",
    "UNAUTHORIZED_BODY",
    "UNAUTHORIZED_HEADERS",
]

# What an HTTP server answers (with 401) to a request without the right token.
UNAUTHORIZED_BODY = {"detail": "missing or wrong bearer token"}
UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}


def token_matches(expected: str | None, authorization: str | None) -> bool:
    """True when no token is configured or ``authorization`` is ``Bearer <token>``.

    Compared in constant time so the answer's timing does not leak the token.
    """
    if not expected:
        return True
    if not authorization:
        return False
    scheme, _, supplied = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(supplied.strip().encode(), expected.encode())


def refused(expected: str | None, authorization: str | None, *, open_path: bool) -> bool:
    """True when a request must be answered 401: a token is set, the path is not
    open to everyone, and ``authorization`` does not carry the token."""
    return bool(expected) and not open_path and not token_matches(expected, authorization)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """``host`` as the host part of a URL or ``host:port``: IPv6 addresses in brackets."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def host_port(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address bracketed (``[::1]:4317``)."""
    return f"{url_host(host)}:{port}"
