"""Run one command with no shell, a time limit and output caps; kill its whole group.

Used by the gateway (:mod:`ssh_tools.gateway`). Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ssh_tools.protocol import cut_marker

__all__ = ["KILL_GRACE_S", "RunOutcome", "run_capped", "write_quietly"]

KILL_GRACE_S = 1.0  # between SIGTERM and SIGKILL of the command's process group


@dataclass
class RunOutcome:
    """What happened to one command run by :func:`run_capped`."""

    exit_code: int
    timed_out: bool = False
    client_gone: bool = False  # our stdout closed (the SSH client left); the command was killed
    stdout_bytes: int = 0  # bytes the command wrote, kept or not
    stderr_bytes: int = 0
    cut: list[str] = field(default_factory=list)  # "stdout" and/or "stderr"


def run_capped(
    argv: Sequence[str],
    *,
    timeout_s: float,
    max_output_bytes: int,
    stdout: IO[bytes],
    stderr: IO[bytes],
    env: dict[str, str] | None = None,
) -> RunOutcome:
    """Run ``argv`` (no shell), copy its output up to the caps, kill it at the deadline.

    The command gets its own session, so the time limit kills everything it started.
    Output past a cap is read and dropped (so the command is never blocked on a full
    pipe), and a marker line with the total is written once the command ends.
    """
    deadline = time.monotonic() + timeout_s
    process = subprocess.Popen(  # noqa: S603 - argv checked by the allowlist; no shell
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        close_fds=True,
        env=env,
    )
    outcome = RunOutcome(exit_code=0)
    previous_handlers = _forward_termination(process)
    try:
        _copy_until_done(process, outcome, deadline, max_output_bytes, stdout, stderr)
        if outcome.timed_out or outcome.client_gone:
            _kill_group(process)
        else:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                outcome.timed_out = True
                _kill_group(process)
    finally:
        _restore_handlers(previous_handlers)
        if process.poll() is None:
            _kill_group(process)
    code = process.returncode
    if code is None:  # survived SIGKILL (e.g. a root process behind sudo): report the kill
        code = -signal.SIGKILL
    # A shell-style status for a command killed by a signal.
    outcome.exit_code = code if code >= 0 else 128 - code
    for name, sink, total in (
        ("stdout", stdout, outcome.stdout_bytes),
        ("stderr", stderr, outcome.stderr_bytes),
    ):
        if name in outcome.cut and not outcome.client_gone:
            write_quietly(sink, cut_marker(max_output_bytes, total).encode())
    return outcome


def _copy_until_done(
    process: subprocess.Popen[bytes],
    outcome: RunOutcome,
    deadline: float,
    cap: int,
    stdout: IO[bytes],
    stderr: IO[bytes],
) -> None:
    assert process.stdout is not None and process.stderr is not None
    poller = select.poll()
    sources: dict[int, tuple[str, IO[bytes]]] = {}
    pairs = (("stdout", process.stdout, stdout), ("stderr", process.stderr, stderr))
    for name, pipe, sink in pairs:
        sources[pipe.fileno()] = (name, sink)
        poller.register(pipe.fileno(), select.POLLIN)
    # Our own stdout and stderr lead to the SSH client. Watched for nothing but their
    # error and hang-up conditions (always reported), they tell when the client has
    # gone: a command that prints nothing is stopped then, not at the time limit.
    watched_sinks = {fd for fd in map(_fileno, (stdout, stderr)) if fd is not None}
    for fd in watched_sinks - set(sources):
        poller.register(fd, 0)
    while sources:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            outcome.timed_out = True
            return
        for fd, events in poller.poll(min(remaining, 3600.0) * 1000):
            if fd not in sources:
                if events & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                    outcome.client_gone = True
                    return
                continue
            name, sink = sources[fd]
            chunk = os.read(fd, 65536)
            if not chunk:
                poller.unregister(fd)
                del sources[fd]
                continue
            seen = outcome.stdout_bytes if name == "stdout" else outcome.stderr_bytes
            room = max(0, cap - seen)
            if name == "stdout":
                outcome.stdout_bytes += len(chunk)
            else:
                outcome.stderr_bytes += len(chunk)
            if len(chunk) > room and name not in outcome.cut:
                outcome.cut.append(name)
            if room and not write_quietly(sink, chunk[:room]):
                outcome.client_gone = True
                return


def _fileno(sink: IO[bytes]) -> int | None:
    """The descriptor behind ``sink``, if it has one (an in-memory buffer has none)."""
    try:
        return sink.fileno()
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError
        return None


def write_quietly(sink: IO[bytes], data: bytes) -> bool:
    try:
        sink.write(data)
        sink.flush()
    except (BrokenPipeError, ConnectionResetError, ValueError):
        return False
    return True


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group, then SIGKILL what is left after a grace.

    Returns only once no process of the group is running any more (or after a
    bounded wait), so what the gateway logs next ("timed_out", "client_gone")
    is true when it is written: a signal is delivered asynchronously, and a
    child the command left behind is not ours to wait for.
    """
    for sig, grace_s in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            # The leader is gone; sweep any child it left in the group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        break
    _wait_until_group_gone(process.pid, timeout_s=5.0)


def _group_running(pgid: int) -> bool:
    """Whether any process of group ``pgid`` is still running (zombies are dead)."""
    proc = Path("/proc")
    if not proc.is_dir():  # no procfs: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        # fields: state ppid pgrp ...
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in {"Z", "X"}:
            return True
    return False


def _wait_until_group_gone(pgid: int, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _group_running(pgid) and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        time.sleep(0.01)  # the kernel finishes the kill asynchronously


def _forward_termination(process: subprocess.Popen[bytes]) -> dict[int, Any]:
    """If sshd or an admin stops the gateway, stop the command's group too."""

    def handler(signum: int, _frame: object) -> None:
        _kill_group(process)
        raise SystemExit(128 + signum)

    previous: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _restore_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
