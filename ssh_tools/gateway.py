"""The server side: an SSH forced command that runs only allowlisted docker commands.

Install it in ``authorized_keys`` so the key can do nothing else::

    restrict,command="agent-audit gateway --log /var/log/agent-audit/gw.jsonl" ssh-ed25519 AAAA...

sshd hands the client's request over in ``SSH_ORIGINAL_COMMAND``. The gateway checks
it with the same allowlist as the client, then runs it without a shell (argv to
``execvp``), in its own process group, under a time limit after which the whole
group is killed, with stdout and stderr each cut at a byte cap (a marker line tells
so). Standard library only, so it runs on a bare server.

Exit status: the command's own, or 126 refused (nothing ran), 124 time limit
reached, 127 docker not found, 125 the gateway could not start (bad policy file).
A refusal, a time-out and a start-up error each write one line to stderr. Every
decision goes to syslog (facility AUTH, ident ``agent-audit-gateway``) unless
``--no-syslog``, and as a JSON line to ``--log FILE`` when given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ssh_tools.allowlist import DEFAULT_POLICY, Policy, Refusal, evaluate, load_policy
from ssh_tools.errors import PolicyError
from ssh_tools.protocol import (
    EXIT_GATEWAY_ERROR,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    EXIT_TIMEOUT,
    REFUSED_PREFIX,
    TIMEOUT_PREFIX,
    cut_marker,
)

__all__ = ["add_arguments", "run", "main", "RunOutcome", "run_capped"]

POLICY_ENV = "AGENT_AUDIT_SSH_POLICY"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024
KILL_GRACE_S = 1.0  # between SIGTERM and SIGKILL of the command's process group
_LOGGED_COMMAND_CHARS = 2048


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the gateway's options to ``parser`` (used by ``agent-audit gateway``)."""
    parser.add_argument(
        "--policy",
        default=os.environ.get(POLICY_ENV) or None,
        help=f"policy file (JSON); default ${POLICY_ENV}, else the built-in policy",
    )
    parser.add_argument(
        "--docker",
        default="docker",
        help="executable run for the policy's program, looked up on PATH (default: docker)",
    )
    parser.add_argument(
        "--sudo",
        action="store_true",
        help="run it as 'sudo -n -- DOCKER ...' (for a sudoers rule instead of the docker group)",
    )
    parser.add_argument(
        "--timeout-s",
        type=_positive_float,
        default=DEFAULT_TIMEOUT_S,
        help=f"time limit per command, then its process group is killed ({DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--max-output-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_OUTPUT_BYTES,
        help=f"cap on stdout and on stderr, each ({DEFAULT_MAX_OUTPUT_BYTES})",
    )
    parser.add_argument("--log", default=None, help="append one JSON line per decision here")
    parser.add_argument(
        "--no-syslog", dest="syslog", action="store_false", help="do not log to syslog"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m ssh_tools.gateway``."""
    parser = argparse.ArgumentParser(
        prog="agent-audit gateway", description=__doc__.splitlines()[0] if __doc__ else None
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Check ``SSH_ORIGINAL_COMMAND`` and run it if the policy admits it."""
    started = time.monotonic()
    command = os.environ.get("SSH_ORIGINAL_COMMAND")
    entry: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "user": _user_name(),
        "client": (os.environ.get("SSH_CONNECTION") or "").split(" ")[0] or None,
        "command": None if command is None else command[:_LOGGED_COMMAND_CHARS],
    }
    try:
        policy = load_policy(args.policy) if args.policy else DEFAULT_POLICY
    except PolicyError as exc:
        _say(f"agent-audit gateway: error: {exc}")
        _record(args, entry | {"decision": "error", "reason": str(exc)}, started)
        return EXIT_GATEWAY_ERROR

    decision = _decide(command, policy)
    if isinstance(decision, Refusal):
        _say(REFUSED_PREFIX + decision.reason)
        _record(args, entry | {"decision": "refused", "reason": decision.reason}, started)
        return EXIT_REFUSED

    entry |= {"decision": "allowed", "argv": list(decision)}
    prefix = ["sudo", "-n", "--"] if args.sudo else []
    program_argv = [*prefix, args.docker, *decision[1:]]
    try:
        outcome = run_capped(
            program_argv,
            timeout_s=args.timeout_s,
            max_output_bytes=args.max_output_bytes,
            stdout=sys.stdout.buffer,
            stderr=sys.stderr.buffer,
        )
    except FileNotFoundError:
        _say(f"agent-audit gateway: error: {program_argv[0]!r} not found on PATH")
        _record(args, entry | {"exit_code": EXIT_NOT_FOUND, "reason": "not found"}, started)
        return EXIT_NOT_FOUND
    except OSError as exc:  # found but not executable, too many processes, ...
        _say(f"agent-audit gateway: error: cannot run {program_argv[0]!r}: {exc.strerror}")
        _record(args, entry | {"exit_code": EXIT_GATEWAY_ERROR, "reason": str(exc)}, started)
        return EXIT_GATEWAY_ERROR
    exit_code = outcome.exit_code
    if outcome.timed_out:
        _say(f"{TIMEOUT_PREFIX}{args.timeout_s:g} s; the command's processes were killed")
        exit_code = EXIT_TIMEOUT
    entry |= {
        "exit_code": exit_code,
        "timed_out": outcome.timed_out,
        "client_gone": outcome.client_gone,
        "stdout_bytes": outcome.stdout_bytes,
        "stderr_bytes": outcome.stderr_bytes,
        "cut": outcome.cut,
    }
    _record(args, entry, started)
    return exit_code


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
            _write(sink, cut_marker(max_output_bytes, total).encode())
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
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, ("stdout", stdout))
    selector.register(process.stderr, selectors.EVENT_READ, ("stderr", stderr))
    with selector:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome.timed_out = True
                return
            for key, _ in selector.select(timeout=remaining):
                name, sink = key.data
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                seen = outcome.stdout_bytes if name == "stdout" else outcome.stderr_bytes
                room = max(0, cap - seen)
                if name == "stdout":
                    outcome.stdout_bytes += len(chunk)
                else:
                    outcome.stderr_bytes += len(chunk)
                if len(chunk) > room and name not in outcome.cut:
                    outcome.cut.append(name)
                if room and not _write(sink, chunk[:room]):
                    outcome.client_gone = True
                    return


def _write(sink: IO[bytes], data: bytes) -> bool:
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


def _decide(command: str | None, policy: Policy) -> tuple[str, ...] | Refusal:
    if command is None:
        return Refusal("no command given; this key runs only allowlisted docker commands")
    return evaluate(command, policy)


def _say(line: str) -> None:
    """One line on stderr, which the SSH client receives."""
    _write(sys.stderr.buffer, (line.replace("\n", " ") + "\n").encode("utf-8", "replace"))


def _record(args: argparse.Namespace, entry: dict[str, Any], started: float) -> None:
    entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    if args.syslog:
        _to_syslog(entry)
    if args.log:
        line = json.dumps(entry, ensure_ascii=True, sort_keys=True) + "\n"
        try:
            # One write on an O_APPEND descriptor, so concurrent gateways do not interleave.
            fd = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line.encode("ascii"))
            finally:
                os.close(fd)
        except OSError as exc:
            _say(f"agent-audit gateway: warning: cannot write log {args.log}: {exc.strerror}")


def _to_syslog(entry: dict[str, Any]) -> None:
    try:
        import syslog
    except ImportError:  # not on this platform
        return
    fields = " ".join(
        f"{key}={json.dumps(entry[key], ensure_ascii=True)}"
        for key in ("decision", "reason", "user", "client", "argv", "command", "exit_code")
        if entry.get(key) is not None
    )
    syslog.openlog("agent-audit-gateway", syslog.LOG_PID, syslog.LOG_AUTH)
    level = syslog.LOG_INFO if entry.get("decision") == "allowed" else syslog.LOG_WARNING
    syslog.syslog(level, fields)


def _user_name() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER") or str(os.getuid())


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


if __name__ == "__main__":
    sys.exit(main())
