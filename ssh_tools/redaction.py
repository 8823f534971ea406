"""Hiding environment values in ``docker inspect`` output before anyone sees it.

Containers carry their secrets (database passwords, API keys) in ``Config.Env``.
The tools replace each ``KEY=value`` there with ``KEY=***`` on the client, so neither
the agent nor the audit trail receives the values. The text is edited in place,
keeping docker's formatting, and output cut in the middle of the list is handled:
a value cut short is hidden too.
"""

from __future__ import annotations

import re

__all__ = ["REDACTED", "redact_inspect_env"]

REDACTED = "***"

_ENV_START = re.compile(r'"Env"\s*:\s*\[')
# One complete JSON string (escapes included) and the separator after it.
_JSON_STRING = re.compile(r'\s*"((?:[^"\\]|\\.)*)"\s*,?', re.DOTALL)
_OPEN_STRING = re.compile(r'\s*"')


def redact_inspect_env(text: str) -> str:
    """``text`` with every value in every ``"Env": [...]`` list replaced by ``***``."""
    parts: list[str] = []
    position = 0
    while (start := _ENV_START.search(text, position)) is not None:
        parts.append(text[position : start.end()])
        position = start.end()
        while (item := _JSON_STRING.match(text, position)) is not None:
            parts.append(text[position : item.start(1)])
            parts.append(_redact_item(item.group(1)))
            parts.append(text[item.end(1) : item.end()])
            position = item.end()
        opened = _OPEN_STRING.match(text, position)
        if opened is not None:
            # A string with no closing quote: the output was cut inside a value.
            rest = text[opened.end() :]
            key, sep, _ = rest.partition("=")
            line_end = rest.find("\n")
            parts.append(text[position : opened.end()])
            if sep and (line_end < 0 or len(key) < line_end):
                parts.append(f"{key}={REDACTED}")
            else:
                parts.append(REDACTED)
            position = opened.end() + (line_end if line_end >= 0 else len(rest))
    parts.append(text[position:])
    return "".join(parts)


def _redact_item(item: str) -> str:
    key, sep, _ = item.partition("=")
    # "NAME" without "=" passes the host's value through at run time; it holds no value here.
    return f"{key}={REDACTED}" if sep else item
