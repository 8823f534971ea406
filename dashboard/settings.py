"""Dashboard settings, read once from the environment into a frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from instrumentation import env as E

__all__ = ["DashboardSettings", "DashboardSettingsError", "API_URL_ENV", "TOKEN_ENV"]

API_URL_ENV = "AGENT_AUDIT_API"
TOKEN_ENV = E.TOKEN.name
REFRESH_ENV = "AGENT_AUDIT_DASHBOARD_REFRESH_S"
TIMEOUT_ENV = "AGENT_AUDIT_DASHBOARD_TIMEOUT_S"
DEFAULT_API_URL = "http://127.0.0.1:4318"


class DashboardSettingsError(ValueError):
    """A setting has a bad value; the message names the variable."""


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise DashboardSettingsError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise DashboardSettingsError(f"{name}={value} must be > 0")
    return value


def check_api_url(url: str, *, name: str = API_URL_ENV) -> str:
    """Return ``url`` without a trailing slash, or raise naming the setting."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise DashboardSettingsError(f"{name}={url!r} is not an http(s) URL")
    return url.rstrip("/")


@dataclass(frozen=True, kw_only=True)
class DashboardSettings:
    """Where the collector's REST API is and how to talk to it."""

    api_url: str = DEFAULT_API_URL
    token: str | None = None
    refresh_s: float = 2.0  # how often live parts of a page refresh
    timeout_s: float = 5.0  # per HTTP request to the collector

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DashboardSettings:
        """Read AGENT_AUDIT_* variables; a bad value raises naming the variable."""
        return cls(
            api_url=check_api_url(env.get(API_URL_ENV) or DEFAULT_API_URL),
            token=E.TOKEN.read(env),
            refresh_s=_positive_float(env, REFRESH_ENV, 2.0),
            timeout_s=_positive_float(env, TIMEOUT_ENV, 5.0),
        )
