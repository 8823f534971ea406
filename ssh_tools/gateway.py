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
import io
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ssh_tools.allowlist import (
    DEFAULT_POLICY,
    Policy,
    Refusal,
    evaluate,
    load_policy,
    positional_arguments,
)
from ssh_tools.capped_run import RunOutcome, run_capped, write_quietly
from ssh_tools.errors import PolicyError
from ssh_tools.gateway_guard import EnvMask, RestartLimiter, clean_environment
from ssh_tools.protocol import (
    EXIT_GATEWAY_ERROR,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    EXIT_TIMEOUT,
    REFUSED_PREFIX,
    TIMEOUT_PREFIX,
)

__all__ = ["add_arguments", "run", "main", "RunOutcome", "run_capped"]

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RESTART_MIN_INTERVAL_S = 60.0
DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024
_LOGGED_COMMAND_CHARS = 2048


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the gateway's options to ``parser`` (used by ``agent-audit gateway``)."""
    # Only from the command line in authorized_keys: never from the environment,
    # which sshd's AcceptEnv or a login profile may let a client set.
    parser.add_argument(
        "--policy", default=None, help="policy file (JSON); default: the built-in policy"
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
    parser.add_argument(
        "--restart-min-interval-s",
        type=float,
        default=DEFAULT_RESTART_MIN_INTERVAL_S,
        help="minimum time between two restarts of one container, over all connections "
        f"(0: no limit; default {DEFAULT_RESTART_MIN_INTERVAL_S:g})",
    )
    parser.add_argument(
        "--state-dir",
        default=None,
        help="where the restart times are kept (default ~/.local/state/agent-audit-gateway)",
    )
    parser.add_argument(
        "--pass-env",
        action="append",
        default=[],
        metavar="NAME",
        help="pass this variable to docker (repeatable); nothing else is passed",
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

    refusal = _restart_refusal(args, decision, policy)
    if refusal is not None:
        _say(REFUSED_PREFIX + refusal)
        _record(args, entry | {"decision": "refused", "reason": refusal}, started)
        return EXIT_REFUSED

    entry |= {"decision": "allowed", "argv": list(decision)}
    prefix = ["sudo", "-n", "--"] if args.sudo else []
    program_argv = [*prefix, _resolve(args.docker), *decision[1:]]
    env = clean_environment(args.pass_env, os.environ)
    try:
        if decision[1] == "inspect":
            outcome = _run_inspect(args, program_argv, decision, policy, env)
        else:
            outcome = run_capped(
                program_argv,
                timeout_s=args.timeout_s,
                max_output_bytes=args.max_output_bytes,
                stdout=sys.stdout.buffer,
                stderr=sys.stderr.buffer,
                env=env,
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


def _resolve(program: str) -> str:
    """``program`` looked up on the gateway's own PATH (the command gets a clean one)."""
    return shutil.which(program) or program


def _restart_refusal(
    args: argparse.Namespace, decision: Sequence[str], policy: Policy
) -> str | None:
    if decision[1] != "restart":
        return None
    state_dir = Path(args.state_dir) if args.state_dir else Path.home() / ".local/state"
    if not args.state_dir:
        state_dir = state_dir / "agent-audit-gateway"
    limiter = RestartLimiter(state_dir / "restarts.json", args.restart_min_interval_s)
    try:
        return limiter.admit(positional_arguments(decision, policy))
    except OSError as exc:
        # Fail closed: without the shared state the limit cannot be kept.
        return f"cannot check the restart rate limit ({exc.strerror}); not restarting"


def _run_inspect(
    args: argparse.Namespace,
    program_argv: Sequence[str],
    decision: Sequence[str],
    policy: Policy,
    env: dict[str, str],
) -> RunOutcome:
    """docker inspect, with every environment value of the inspected objects masked."""
    mask = EnvMask(())
    if any(
        word in {"--format", "-f"} or word.startswith(("--format=", "-f=")) for word in decision
    ):
        # A template can print values anywhere, in any layout: look the values up
        # first (one more docker call) and mask them wherever they appear.
        targets = positional_arguments(decision, policy)
        lookup = io.BytesIO()
        docker = program_argv[: len(program_argv) - len(decision) + 1]  # [sudo -n --] docker
        run_capped(
            [*docker, "inspect", "--format", "{{json .Config.Env}}", *targets],
            timeout_s=min(args.timeout_s, 10.0),
            max_output_bytes=args.max_output_bytes,
            stdout=lookup,
            stderr=io.BytesIO(),
            env=env,
        )
        mask = EnvMask.from_inspect_json(lookup.getvalue().decode("utf-8", "replace"))
    buffered = io.BytesIO()
    outcome = run_capped(
        program_argv,
        timeout_s=args.timeout_s,
        max_output_bytes=args.max_output_bytes,
        stdout=buffered,
        stderr=sys.stderr.buffer,
        env=env,
    )
    text = mask.apply(buffered.getvalue().decode("utf-8", "replace"))
    outcome.client_gone = outcome.client_gone or not write_quietly(sys.stdout.buffer, text.encode())
    return outcome


def _decide(command: str | None, policy: Policy) -> tuple[str, ...] | Refusal:
    if command is None:
        return Refusal("no command given; this key runs only allowlisted docker commands")
    return evaluate(command, policy)


def _say(line: str) -> None:
    """One line on stderr, which the SSH client receives."""
    write_quietly(sys.stderr.buffer, (line.replace("\n", " ") + "\n").encode("utf-8", "replace"))


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
