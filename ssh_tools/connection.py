"""One owning SSH connection to the server, opened lazily and reused.

Every command is checked against the allowlist before anything is sent, then sent
as ``shlex.join(argv)`` to the gateway, which checks it again. Host keys come only
from the configured known_hosts file; an unknown or changed key is refused, never
learned. Errors come out as the typed exceptions of :mod:`ssh_tools.errors`.
"""

from __future__ import annotations

import logging
import re
import shlex
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import paramiko

from ssh_tools.allowlist import DEFAULT_POLICY, Policy, Refusal, check_argv, load_policy
from ssh_tools.errors import (
    AuthenticationFailed,
    CommandTimeout,
    ConnectionFailed,
    HostKeyMismatch,
    NonZeroExit,
    PolicyRefused,
    UnknownHostKey,
)
from ssh_tools.protocol import (
    CUT_MARKER_PREFIX,
    EXIT_REFUSED,
    EXIT_TIMEOUT,
    REFUSED_PREFIX,
    TIMEOUT_PREFIX,
    cut_marker,
)
from ssh_tools.settings import SSHSettings

__all__ = ["CommandResult", "SSHConnection"]

logger = logging.getLogger(__name__)

_POLL_S = 0.2  # upper bound between checks for the exit status while waiting for data


@dataclass(frozen=True)
class CommandResult:
    """What one command returned. ``stdout`` ends with a marker line if it was cut."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: bytes
    stderr: bytes
    stdout_cut: bool
    duration_ms: float

    @property
    def text(self) -> str:
        """stdout as text (invalid UTF-8 replaced)."""
        return self.stdout.decode("utf-8", errors="replace")


class _RejectUnknownHost(paramiko.RejectPolicy):
    """paramiko's RejectPolicy, raising our own typed error with the key's fingerprint."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        fingerprint = key.fingerprint if hasattr(key, "fingerprint") else key.get_name()
        raise UnknownHostKey(
            f"host {hostname} is not in known_hosts (it offered {fingerprint}); "
            "add its key to the known_hosts file after checking it",
            host=hostname,
            port=0,
        )


# Channels open at once on the connection: OpenSSH's MaxSessions is 10 by default, and
# a channel it refuses would read as a dead connection and be dropped under the others.
MAX_CHANNELS = 8


class SSHConnection:
    """The one connection to the server; thread-safe.

    Concurrent commands share it, each on a channel of its own: the lock guards
    connecting and opening a channel, never a command's run, so one hanging
    command does not hold up the commands of other runs. At most
    :data:`MAX_CHANNELS` run at once; more wait for a free channel.
    """

    def __init__(self, settings: SSHSettings, *, policy: Policy | None = None) -> None:
        self._settings = settings
        if policy is None:
            policy = load_policy(settings.policy_path) if settings.policy_path else DEFAULT_POLICY
        self._policy = policy
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()
        self._channels = threading.BoundedSemaphore(MAX_CHANNELS)
        self._connects = 0

    @property
    def settings(self) -> SSHSettings:
        """The settings this connection was made with."""
        return self._settings

    @property
    def policy(self) -> Policy:
        """The allowlist checked before anything is sent."""
        return self._policy

    @property
    def connects(self) -> int:
        """How many SSH connections were opened so far (1 while the first one lasts)."""
        return self._connects

    def run(
        self, argv: Sequence[str], *, check: bool = True, timeout_s: float | None = None
    ) -> CommandResult:
        """Run ``argv`` on the server through the gateway.

        ``timeout_s`` overrides the settings' time limit for this command. Raises
        :class:`PolicyRefused` (nothing sent, or refused by the gateway),
        :class:`CommandTimeout`, :class:`NonZeroExit` (when ``check``) and the
        connection errors.
        """
        decision = check_argv(argv, self._policy)
        if isinstance(decision, Refusal):
            raise PolicyRefused(decision.reason, layer="client")
        command = shlex.join(decision)
        started = time.monotonic()
        with self._channels:
            with self._lock:
                channel = self._open_session()
                client = self._client
            try:
                channel.exec_command(command)
                limit_s = self._settings.timeout_s if timeout_s is None else timeout_s
                exit_code, stdout, stderr, cut = self._collect(channel, decision, limit_s)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                self._drop_if_current(client)
                raise ConnectionFailed(f"connection broke during the command: {exc}") from exc
            finally:
                self._close_channel(channel, client)
        result = CommandResult(
            argv=decision,
            exit_code=exit_code,
            stdout=stdout,
            stderr=stderr,
            stdout_cut=cut or CUT_MARKER_PREFIX.encode() in stdout,
            duration_ms=(time.monotonic() - started) * 1000,
        )
        return self._interpret(result, check=check)

    def close(self) -> None:
        """Close the connection; the next command opens a new one."""
        with self._lock:
            self._drop()

    def __enter__(self) -> SSHConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------

    def _interpret(self, result: CommandResult, *, check: bool) -> CommandResult:
        first_line = result.stderr.decode("utf-8", errors="replace").strip().splitlines()
        message = first_line[-1] if first_line else ""
        if result.exit_code == EXIT_REFUSED and message.startswith(REFUSED_PREFIX):
            raise PolicyRefused(message[len(REFUSED_PREFIX) :], layer="gateway")
        if result.exit_code == EXIT_TIMEOUT and message.startswith(TIMEOUT_PREFIX):
            found = re.match(r"([0-9.]+)", message[len(TIMEOUT_PREFIX) :])
            limit = float(found.group(1)) if found else self._settings.timeout_s
            raise CommandTimeout(result.argv, timeout_s=limit, on_server=True, output=result.stdout)
        if check and result.exit_code != 0:
            raise NonZeroExit(
                result.argv, exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr
            )
        return result

    def _collect(
        self, channel: paramiko.Channel, argv: tuple[str, ...], timeout_s: float
    ) -> tuple[int, bytes, bytes, bool]:
        cap = self._settings.max_output_bytes
        stdout, stderr = _CappedBuffer(cap), _CappedBuffer(cap)
        deadline = time.monotonic() + timeout_s
        # Not select() on channel.fileno(): paramiko closes that pipe in close() while
        # its transport thread may still write to it, and the EBADF kills the connection.
        arrived = _Arrival()
        channel.in_buffer.set_event(arrived)
        channel.in_stderr_buffer.set_event(arrived)
        while True:
            arrived.reset()
            while channel.recv_ready():
                stdout.feed(channel.recv(65536))
            while channel.recv_stderr_ready():
                stderr.feed(channel.recv_stderr(65536))
            # sshd sends all data before the exit status, so nothing is left behind here.
            if channel.exit_status_ready() and not (
                channel.recv_ready() or channel.recv_stderr_ready()
            ):
                return channel.recv_exit_status(), stdout.value(), stderr.value(), stdout.cut
            if channel.closed and not channel.exit_status_ready():
                raise ConnectionFailed("the server closed the channel without an exit status")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CommandTimeout(
                    argv,
                    timeout_s=timeout_s,
                    on_server=False,
                    output=stdout.value(),
                )
            if channel.eof_received:  # no more data; the exit status is what is left
                channel.status_event.wait(min(remaining, _POLL_S))
            else:
                arrived.wait(min(remaining, _POLL_S))

    def _close_channel(self, channel: paramiko.Channel, client: paramiko.SSHClient | None) -> None:
        """Close without hiding the command's own outcome if the connection died."""
        try:
            channel.close()
        except (paramiko.SSHException, EOFError, OSError) as exc:
            logger.warning(
                "SSH connection to %s broke at a channel close: %s", self._settings.host, exc
            )
            self._drop_if_current(client)

    def _drop_if_current(self, client: paramiko.SSHClient | None) -> None:
        """Drop ``client`` unless another command already replaced it with a new one."""
        with self._lock:
            if self._client is client:
                self._drop()

    def _open_session(self) -> paramiko.Channel:
        """A new channel; reconnects once if the kept connection turns out dead."""
        for attempt in (1, 2):
            client = self._connected_client()
            transport = client.get_transport()
            try:
                if transport is None:
                    raise paramiko.SSHException("no transport")
                return transport.open_session(timeout=self._settings.connect_timeout_s)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                # Nothing was sent yet, so trying again on a fresh connection is safe.
                self._drop()
                if attempt == 2:
                    raise ConnectionFailed(f"cannot open an SSH session: {exc}") from exc
                logger.warning("SSH connection to %s was dead; reconnecting", self._settings.host)
        raise AssertionError("unreachable")

    def _connected_client(self) -> paramiko.SSHClient:
        client = self._client
        if client is not None:
            transport = client.get_transport()
            if transport is not None and transport.is_active():
                return client
            self._drop()
        self._client = self._connect()
        self._connects += 1
        return self._client

    def _connect(self) -> paramiko.SSHClient:
        settings = self._settings
        if not settings.key_path.is_file():
            raise ConnectionFailed(f"private key {settings.key_path} not found")
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(str(settings.known_hosts_path))
        except OSError as exc:
            raise ConnectionFailed(
                f"cannot read known_hosts {settings.known_hosts_path}: {exc.strerror or exc}"
            ) from exc
        # Unknown hosts are refused, never added: see _RejectUnknownHost.
        client.set_missing_host_key_policy(_RejectUnknownHost())
        where = f"{settings.user}@{settings.host}:{settings.port}"
        try:
            client.connect(
                settings.host,
                port=settings.port,
                username=settings.user,
                key_filename=str(settings.key_path),
                look_for_keys=False,
                allow_agent=False,
                timeout=settings.connect_timeout_s,
                banner_timeout=settings.connect_timeout_s,
                auth_timeout=settings.connect_timeout_s,
                channel_timeout=settings.connect_timeout_s,
            )
        except UnknownHostKey as exc:
            client.close()
            exc.host, exc.port = settings.host, settings.port
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyMismatch(
                f"host key of {settings.host}:{settings.port} does not match known_hosts "
                f"(offered {exc.key.fingerprint}); refusing to connect",
                host=settings.host,
                port=settings.port,
            ) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise AuthenticationFailed(
                f"{where} did not accept the key {settings.key_path}: {exc}", user=settings.user
            ) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            raise ConnectionFailed(f"cannot connect to {where}: {_why(exc)}") from exc
        logger.info("SSH connected to %s", where)
        return client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def _why(exc: BaseException) -> str:
    """What stopped a connection, in the system's words ("Connection refused")."""
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) and exc.errors:
        # paramiko's own text only repeats the address; the cause is in each attempt.
        return "; ".join(sorted({_why(error) for error in exc.errors.values()}))
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class _Arrival(threading.Event):
    """Set by paramiko when output or the end of it arrives; only the reader clears it.

    paramiko clears a buffer's event when that buffer runs empty, which would lose
    a wake-up for the other stream sharing it; the reader clears it before draining.
    """

    def clear(self) -> None:
        pass

    def reset(self) -> None:
        super().clear()


class _CappedBuffer:
    """Keeps the first ``cap`` bytes; counts and drops the rest."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._chunks: list[bytes] = []
        self._kept = 0
        self.total = 0

    @property
    def cut(self) -> bool:
        return self.total > self._cap

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self._cap - self._kept
        if room > 0:
            kept = chunk[:room]
            self._chunks.append(kept)
            self._kept += len(kept)

    def value(self) -> bytes:
        data = b"".join(self._chunks)
        if self.cut:
            data += cut_marker(self._cap, self.total).encode()
        return data
