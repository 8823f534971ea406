"""``agent-audit cancel RUN_ID``: ask a running agent to stop.

The collector records the request; the agent's instrumentation sees it at its
next step boundary and the run ends ``cancelled``. ``--wait`` stays until then.
"""

from __future__ import annotations

import argparse
import getpass
import socket
import time

from collector.cli.common import EXIT_API_ERROR, EXIT_OK, add_api_argument, call_api, error
from collector.cli.show import resolve_run_id
from collector.cli.terminal import format_time, inert, one_line
from collector.client import AuditClient

__all__ = ["add_arguments", "run"]


def _who() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()} (cli)"
    except (OSError, KeyError):
        return "cli"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``agent-audit cancel``."""
    add_api_argument(parser)
    parser.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    parser.add_argument("--reason", help="why (recorded with the request)")
    parser.add_argument("--by", default=_who(), help="who asks (default: user@host)")
    parser.add_argument(
        "--wait",
        type=float,
        nargs="?",
        const=60.0,
        metavar="SECONDS",
        help="wait until the run has ended (default up to 60 s)",
    )


def run(args: argparse.Namespace) -> int:
    """Record the cancel request; optionally wait for the run to end."""

    def action(client: AuditClient) -> int:
        matches = resolve_run_id(client, args.run_id)
        if len(matches) != 1:
            what = "no run" if not matches else f"{len(matches)} runs match"
            error(f"{what} {args.run_id!r}; give the id as agent-audit runs shows it")
            return EXIT_API_ERROR
        run_id = matches[0]
        recorded = client.cancel_run(run_id, requested_by=args.by, reason=args.reason)
        print(
            f"cancel requested for run {inert(run_id)} by {one_line(recorded.get('requested_by'))} "
            f"at {format_time(recorded.get('requested_at'))} UTC; "
            "the agent stops at its next step"
        )
        if args.wait is None:
            return EXIT_OK
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline:
            status = client.get_run(run_id).get("status")
            if status != "running":
                print(f"run {inert(run_id)} ended: {inert(status)}")
                return EXIT_OK
            time.sleep(0.5)  # poll interval
        error(f"run {run_id} still running after {args.wait:g} s")
        return EXIT_API_ERROR

    return call_api(args, action)
