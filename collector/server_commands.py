"""The command a tool step ran on a server, read from the span's ``ssh.*`` attributes.

``ssh_tools`` records each docker command it runs or refuses as a tool span with
the exact argv, the host and the allow/refuse decision as attributes
(instrumentation/attributes.py). These fields lift them into the step row so the
run view, the CLI and /sql show which command ran without opening the raw span.
Any tool span carrying the keys gets them, whoever emitted it. Pure.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

from instrumentation import attributes as A

__all__ = ["COMMAND_FIELDS", "command_fields", "display_argv"]

# The step columns these fill (collector/columns.py declares them).
COMMAND_FIELDS = (
    "command",
    "command_host",
    "command_decision",
    "command_reason",
    "command_exit_code",
)
_MARKERS = (A.SSH_ARGV, A.SSH_COMMAND, A.SSH_HOST, A.SSH_DECISION)


def display_argv(value: Any) -> str | None:
    """An argv (a list, or its JSON text as ssh_tools records it) shell-quoted for
    display, so that what is shown is what ran, word for word; None if it is no argv."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, list | tuple) and value and all(isinstance(w, str) for w in value):
        return shlex.join(value)
    return None


def _host(attrs: Mapping[str, Any]) -> str | None:
    host = attrs.get(A.SSH_HOST)
    if not isinstance(host, str) or not host:
        return None
    user, port = attrs.get(A.SSH_USER), attrs.get(A.SSH_PORT)
    shown = f"{user}@{host}" if isinstance(user, str) and user else host
    if isinstance(port, int) and not isinstance(port, bool):
        shown += f":{port}"
    return shown


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


_INT32 = range(-(2**31), 2**31)  # the column's range: a value beyond it is no exit code


def _exit_code(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in _INT32:
        return value
    return None


def command_fields(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The step's command columns; all None for a span that ran no server command."""
    if not any(key in attrs for key in _MARKERS):
        return dict.fromkeys(COMMAND_FIELDS)
    # A command line that never parsed into an argv is shown as the text given.
    raw = attrs.get(A.SSH_ARGV)
    command = display_argv(raw) or _text(attrs.get(A.SSH_COMMAND))
    if command is None and isinstance(raw, str) and raw != "null":
        command = raw  # cut or otherwise unreadable: the recorded text as it is
    return {
        "command": command,
        "command_host": _host(attrs),
        "command_decision": _text(attrs.get(A.SSH_DECISION)),
        "command_reason": _text(attrs.get(A.SSH_REASON)),
        "command_exit_code": _exit_code(attrs.get(A.SSH_EXIT_CODE)),
    }
