"""The exceptions of ``ssh_tools``, all under one root.

Standard library only: the gateway, which runs on a bare server, imports this module.

```
SSHToolError
├── PolicyError            the policy file itself is invalid (also a ValueError)
├── SettingsError          an AGENT_AUDIT_SSH_* variable is invalid (also a ValueError)
├── PolicyRefused          the allowlist refused the command; nothing ran
│   └── RateLimited        a restart came too soon after the previous one
├── HostKeyError           the server's host key could not be trusted
│   ├── UnknownHostKey     the host is not in known_hosts
│   └── HostKeyMismatch    the host is in known_hosts with a different key
├── AuthenticationFailed   the server refused our key
├── ConnectionFailed       the TCP or SSH connection could not be made or broke
├── CommandTimeout         the command ran past its time limit and was stopped
└── NonZeroExit            the command ran and exited with a non-zero status
```
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "SSHToolError",
    "PolicyError",
    "SettingsError",
    "PolicyRefused",
    "RateLimited",
    "HostKeyError",
    "UnknownHostKey",
    "HostKeyMismatch",
    "AuthenticationFailed",
    "ConnectionFailed",
    "CommandTimeout",
    "NonZeroExit",
]


class SSHToolError(Exception):
    """Root of every error raised by ``ssh_tools``."""


class PolicyError(SSHToolError, ValueError):
    """A policy (file or dict) is malformed; ``source`` names where it came from."""

    def __init__(self, message: str, *, source: str = "policy") -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class SettingsError(SSHToolError, ValueError):
    """An environment variable holds a bad value; ``variable`` names it."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


class PolicyRefused(SSHToolError):
    """The allowlist refused a command, so nothing was run.

    ``layer`` is ``"client"`` when refused before anything was sent, ``"gateway"`` when
    the server-side gateway refused it.
    """

    def __init__(self, reason: str, *, layer: str = "client", command: str | None = None) -> None:
        super().__init__(f"refused by {layer} policy: {reason}")
        self.reason = reason
        self.layer = layer
        self.command = command


class RateLimited(PolicyRefused):
    """A restart of ``container`` was asked for before the minimum interval passed."""

    def __init__(self, reason: str, *, container: str, retry_after_s: float) -> None:
        super().__init__(reason, layer="client")
        self.container = container
        self.retry_after_s = retry_after_s


class HostKeyError(SSHToolError):
    """The server's host key is not trusted; the connection was dropped before auth."""

    def __init__(self, message: str, *, host: str, port: int) -> None:
        super().__init__(message)
        self.host = host
        self.port = port


class UnknownHostKey(HostKeyError):
    """The server is not listed in known_hosts (it is never added automatically)."""


class HostKeyMismatch(HostKeyError):
    """known_hosts lists the server with a different key: possibly an impostor."""


class AuthenticationFailed(SSHToolError):
    """The server did not accept our key for ``user``."""

    def __init__(self, message: str, *, user: str) -> None:
        super().__init__(message)
        self.user = user


class ConnectionFailed(SSHToolError):
    """The connection could not be opened, or broke while in use."""


class CommandTimeout(SSHToolError):
    """The command ran past ``timeout_s``; ``on_server`` tells which side stopped it."""

    def __init__(
        self, argv: Sequence[str], *, timeout_s: float, on_server: bool, output: bytes = b""
    ) -> None:
        where = "the gateway stopped it on the server" if on_server else "the client gave up"
        super().__init__(f"command timed out after {timeout_s:g} s ({where})")
        self.argv = tuple(argv)
        self.timeout_s = timeout_s
        self.on_server = on_server
        self.output = output


class NonZeroExit(SSHToolError):
    """The command ran and exited with ``exit_code``; ``stderr`` holds its last words."""

    def __init__(
        self, argv: Sequence[str], *, exit_code: int, stdout: bytes = b"", stderr: bytes = b""
    ) -> None:
        detail = stderr.decode("utf-8", errors="replace").strip()
        message = f"{argv[0] if argv else 'command'} exited with status {exit_code}"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.argv = tuple(argv)
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
