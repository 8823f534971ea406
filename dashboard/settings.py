"""Dashboard settings, read once from the environment into a frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from instrumentation import env as E

__all__ = ["DashboardSettings", "DashboardSettingsError", "API_URL_ENV", "TOKEN_ENV"]

API_URL_ENV = E.API.name
TOKEN_ENV = E.TOKEN.name
DEFAULT_API_URL = E.DEFAULT_API_URL


class DashboardSettingsError(ValueError):
    """A setting has a bad value; the message names the variable."""


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
    refresh_s: float = E.DASHBOARD_REFRESH_S.default  # how often live parts refresh
    timeout_s: float = E.DASHBOARD_TIMEOUT_S.default  # per HTTP request to the collector
    # How long a page document waits for its preview's data; 0: no preview.
    preview_wait_s: float = E.DASHBOARD_PREVIEW_WAIT_S.default

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DashboardSettings:
        """Read AGENT_AUDIT_* variables; a bad value raises naming the variable."""
        try:
            return cls(
                api_url=check_api_url(E.api_url(env)),
                token=E.TOKEN.read(env),
                refresh_s=E.DASHBOARD_REFRESH_S.read(env),
                timeout_s=E.DASHBOARD_TIMEOUT_S.read(env),
                preview_wait_s=E.DASHBOARD_PREVIEW_WAIT_S.read(env),
            )
        except E.EnvError as exc:
            raise DashboardSettingsError(str(exc)) from None
