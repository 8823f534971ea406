"""Cut JSON nested too deep for Python's parser out of a body, keeping the rest.

``json.loads`` recurses once per level of nesting and gives up (RecursionError)
past about a thousand levels, so one span carrying an attribute nested that
deep would make a whole OTLP/JSON request unreadable, the good spans next to it
included. Each array or object opened deeper than ``max_depth`` is replaced by
a marker string: the body parses, and the one span holding the marker is
rejected alone when it is parsed as a span (a string where a value object
belongs). Linear in the body; used only after the parser gave up.
"""

from __future__ import annotations

import re

__all__ = ["cut_deep_json", "TOO_DEEP"]

TOO_DEEP = "agent-audit: JSON value nested too deeply, cut"
# A string (escapes included) is one token, so brackets inside strings do not count.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_OPEN = frozenset(b"[{")


def cut_deep_json(body: bytes, max_depth: int) -> tuple[bytes, int]:
    """``body`` with every array or object opened below ``max_depth`` levels
    replaced by the string ``TOO_DEEP``, and how many were replaced."""
    marker = b'"' + TOO_DEEP.encode() + b'"'
    pieces: list[bytes] = []
    depth = 0
    copied_to = 0  # body[:copied_to] is in pieces already
    cut_from: int | None = None
    cuts = 0
    for token in _TOKENS.finditer(body):
        first = token.group()[0]
        if first == ord('"'):
            continue
        if first in _OPEN:
            depth += 1
            if depth > max_depth and cut_from is None:
                cut_from = token.start()
        else:
            if cut_from is not None and depth == max_depth + 1:
                pieces += [body[copied_to:cut_from], marker]
                copied_to = token.end()
                cut_from = None
                cuts += 1
            depth -= 1
    if cut_from is not None:  # never closed: the body is not JSON; the parser will say so
        return body, 0
    pieces.append(body[copied_to:])
    return b"".join(pieces), cuts
