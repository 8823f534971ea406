"""Client settings for ``ssh_tools``, read once from ``AGENT_AUDIT_SSH_*`` variables.

| variable | meaning | default |
|---|---|---|
| ``AGENT_AUDIT_SSH_HOST`` | server to connect to | required |
| ``AGENT_AUDIT_SSH_PORT`` | its SSH port | 22 |
| ``AGENT_AUDIT_SSH_USER`` | the dedicated user whose key runs the gateway | required |
| ``AGENT_AUDIT_SSH_KEY`` | private key file (read only) | required |
| ``AGENT_AUDIT_SSH_KNOWN_HOSTS`` | known_hosts file with the server's key | ~/.ssh/known_hosts |
| ``AGENT_AUDIT_SSH_POLICY`` | policy file (JSON) for the client-side check | built-in policy |
| ``AGENT_AUDIT_SSH_TIMEOUT_S`` | time limit per command, client side | 30 |
| ``AGENT_AUDIT_SSH_CONNECT_TIMEOUT_S`` | TCP connect, banner and auth timeout | 10 |
| ``AGENT_AUDIT_SSH_MAX_OUTPUT_BYTES`` | cap on a command's stdout and stderr, each | 262144 |
| ``AGENT_AUDIT_SSH_RESTART_MIN_INTERVAL_S`` | minimum time between restarts of one container | 60 |
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ssh_tools.errors import SettingsError

__all__ = ["SSHSettings", "ENV_VARIABLES"]

ENV_VARIABLES = (
    "AGENT_AUDIT_SSH_HOST",
    "AGENT_AUDIT_SSH_PORT",
    "AGENT_AUDIT_SSH_USER",
    "AGENT_AUDIT_SSH_KEY",
    "AGENT_AUDIT_SSH_KNOWN_HOSTS",
    "AGENT_AUDIT_SSH_POLICY",
    "AGENT_AUDIT_SSH_TIMEOUT_S",
    "AGENT_AUDIT_SSH_CONNECT_TIMEOUT_S",
    "AGENT_AUDIT_SSH_MAX_OUTPUT_BYTES",
    "AGENT_AUDIT_SSH_RESTART_MIN_INTERVAL_S",
)


@dataclass(frozen=True, kw_only=True)
class SSHSettings:
    """Where and how the tools connect; see the module docstring for the variables."""

    host: str
    user: str
    key_path: Path
    known_hosts_path: Path
    port: int = 22
    policy_path: Path | None = None
    timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    max_output_bytes: int = 256 * 1024
    restart_min_interval_s: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SSHSettings:
        """Read the ``AGENT_AUDIT_SSH_*`` variables; a bad value raises :class:`SettingsError`."""
        policy = env.get("AGENT_AUDIT_SSH_POLICY", "").strip()
        return cls(
            host=_required(env, "AGENT_AUDIT_SSH_HOST"),
            port=_int(env, "AGENT_AUDIT_SSH_PORT", 22, low=1, high=65535),
            user=_required(env, "AGENT_AUDIT_SSH_USER"),
            key_path=_path(_required(env, "AGENT_AUDIT_SSH_KEY")),
            known_hosts_path=_path(
                env.get("AGENT_AUDIT_SSH_KNOWN_HOSTS", "").strip() or "~/.ssh/known_hosts"
            ),
            policy_path=_path(policy) if policy else None,
            timeout_s=_float(env, "AGENT_AUDIT_SSH_TIMEOUT_S", 30.0),
            connect_timeout_s=_float(env, "AGENT_AUDIT_SSH_CONNECT_TIMEOUT_S", 10.0),
            max_output_bytes=_int(
                env, "AGENT_AUDIT_SSH_MAX_OUTPUT_BYTES", 256 * 1024, low=1024, high=64 * 1024**2
            ),
            restart_min_interval_s=_float(
                env, "AGENT_AUDIT_SSH_RESTART_MIN_INTERVAL_S", 60.0, allow_zero=True
            ),
        )


def _path(text: str) -> Path:
    return Path(text).expanduser()


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(name, "is required")
    return value


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(name, f"must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise SettingsError(name, f"must be from {low} to {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, allow_zero: bool = False) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(name, f"must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise SettingsError(name, f"must be a positive number of seconds, got {text!r}")
    return value
