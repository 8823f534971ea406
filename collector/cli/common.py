"""What the API-talking CLI commands share: ``--api``, the client, error exits.

Exit codes: 0 success, 1 the API refused (not found, bad query, ...),
2 the API cannot be reached (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from collector.cli.terminal import inert
from collector.client import ApiError, AuditClient, CollectorUnreachable
from instrumentation import env as E

__all__ = [
    "EXIT_OK",
    "EXIT_API_ERROR",
    "EXIT_UNREACHABLE",
    "add_api_argument",
    "call_api",
    "open_client",
    "error",
    "parse_when",
]

EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_UNREACHABLE = 2

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def add_api_argument(parser: argparse.ArgumentParser) -> None:
    """``--api URL`` defaulting to AGENT_AUDIT_API or the local collector."""
    parser.add_argument(
        "--api",
        default=E.api_url(),
        metavar="URL",
        help=f"collector API (default: ${E.API.name} or {E.DEFAULT_API_URL}); "
        f"the token, if any, is read from ${E.TOKEN.name}",
    )


def error(message: str) -> None:
    """One line on stderr, prefixed with the program name.

    Made inert: messages name stored ids and the API's answers, which a sender chose.
    """
    print(f"agent-audit: {inert(message)}", file=sys.stderr)


def open_client(api: str) -> AuditClient:
    """The CLI's client of ``api``, with the token from AGENT_AUDIT_TOKEN if set."""
    return AuditClient(
        api,
        token=E.TOKEN.read(),
        timeout_s=30.0,
        user_agent="agent-audit-cli",
    )


def call_api(args: argparse.Namespace, action: Callable[[AuditClient], int]) -> int:
    """Run ``action`` with a client, turning API failures into a message and an exit code."""
    try:
        with open_client(args.api) as client:
            return action(client)
    except CollectorUnreachable as exc:
        error(str(exc))
        return EXIT_UNREACHABLE
    except ApiError as exc:
        if exc.status_code == 401:
            error(f"{exc.detail} (set AGENT_AUDIT_TOKEN to the collector's token)")
        else:
            error(exc.detail)
        return EXIT_API_ERROR
    except BrokenPipeError:
        # `agent-audit runs | head`: the reader left; nothing more to say.
        sys.stderr.close()
        return EXIT_OK


def parse_when(text: str, *, now: datetime | None = None) -> str:
    """A time for ``--since``/``--until``: ISO 8601, ``today``, ``yesterday``, or an age
    like ``30m``, ``2h``, ``7d`` (that long ago). Returns ISO 8601 UTC for the API."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    value = text.strip().lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if value == "today":
        moment = midnight
    elif value == "yesterday":
        moment = midnight - timedelta(days=1)
    elif value == "now":
        moment = now
    else:
        match = _RELATIVE.match(value)
        if match is None:
            try:
                datetime.fromisoformat(text.strip())
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{text!r} is not a time: use ISO 8601, today, yesterday or e.g. 2h, 7d"
                ) from None
            return text.strip()
        amount, unit = int(match.group(1)), _UNITS[match.group(2)]
        moment = now - timedelta(**{unit: amount})
    return moment.isoformat(timespec="seconds") + "Z"
