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

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from instrumentation import env as E
from ssh_tools.errors import SettingsError

__all__ = ["SSHSettings", "ENV_VARIABLES"]

_VARIABLES = (
    E.SSH_HOST,
    E.SSH_PORT,
    E.SSH_USER,
    E.SSH_KEY,
    E.SSH_KNOWN_HOSTS,
    E.SSH_POLICY,
    E.SSH_TIMEOUT_S,
    E.SSH_CONNECT_TIMEOUT_S,
    E.SSH_MAX_OUTPUT_BYTES,
    E.SSH_RESTART_MIN_INTERVAL_S,
)
ENV_VARIABLES = tuple(variable.name for variable in _VARIABLES)


@dataclass(frozen=True, kw_only=True)
class SSHSettings:
    """Where and how the tools connect; see the module docstring for the variables."""

    host: str
    user: str
    key_path: Path
    known_hosts_path: Path
    port: int = E.SSH_PORT.default
    policy_path: Path | None = None
    timeout_s: float = E.SSH_TIMEOUT_S.default
    connect_timeout_s: float = E.SSH_CONNECT_TIMEOUT_S.default
    max_output_bytes: int = E.SSH_MAX_OUTPUT_BYTES.default
    restart_min_interval_s: float = E.SSH_RESTART_MIN_INTERVAL_S.default

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SSHSettings:
        """Read the ``AGENT_AUDIT_SSH_*`` variables; a bad value raises :class:`SettingsError`."""
        try:
            policy = E.SSH_POLICY.read(env)
            return cls(
                host=E.required(E.SSH_HOST, env),
                port=E.SSH_PORT.read(env),
                user=E.required(E.SSH_USER, env),
                key_path=_path(E.required(E.SSH_KEY, env)),
                known_hosts_path=_path(E.SSH_KNOWN_HOSTS.read(env)),
                policy_path=_path(policy) if policy else None,
                timeout_s=E.SSH_TIMEOUT_S.read(env),
                connect_timeout_s=E.SSH_CONNECT_TIMEOUT_S.read(env),
                max_output_bytes=E.SSH_MAX_OUTPUT_BYTES.read(env),
                restart_min_interval_s=E.SSH_RESTART_MIN_INTERVAL_S.read(env),
            )
        except E.EnvError as exc:
            raise SettingsError(exc.variable, exc.problem) from None


def _path(text: str) -> Path:
    return Path(text).expanduser()
