"""A run id in the URL path is one segment, whatever characters it holds.

A run's id is whatever its agent sent (``agent_run.id``): it may hold ``/``
(``workflow/42``), ``%`` or be ``..``. A client quotes it into one segment
(``/agent/runs/workflow%2F42/steps``), but the server decodes the path before
routing, so ``%2F`` became a separator and the run was listed yet could not be
opened (404). This middleware routes ``/agent/runs/...`` on the raw path: the
id's segment is kept as sent (still quoted, so it matches ``{run_id}`` as one
segment; ``stats`` quoted as ``%73tats`` is then a run id, not the stats route)
and its decoded text is handed to the route through the request's state.
A segment whose escapes are not UTF-8 (``%ff``) names no run: the route answers
400 (decoded leniently it became U+FFFD, so ``%ff``, ``%fe`` and ``%EF%BF%BD``
all opened the run whose id is that one character).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from fastapi import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["RunIdPath", "run_id_of"]

_PREFIX = "/agent/runs/"
_STATE_KEY = "run_id"
_NOT_UTF8 = "run_id_not_utf8"  # state key: the raw segment, whose escapes are not UTF-8


class RunIdPath:
    """ASGI middleware: under ``/agent/runs/``, the id segment is matched undecoded."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = _with_raw_segment(scope)
        await self.app(scope, receive, send)


def _with_raw_segment(scope: Scope) -> Scope:
    raw = scope.get("raw_path")
    if not isinstance(raw, bytes) or scope.get("root_path"):
        return scope
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return scope
    if not text.startswith(_PREFIX) or "%" not in text:
        return scope  # nothing was decoded: the path is already what was sent
    segment, slash, rest = text[len(_PREFIX) :].partition("/")
    if not segment:
        return scope
    state: dict[str, Any] = dict(scope.get("state") or {})
    try:
        state[_STATE_KEY] = unquote(segment, errors="strict")
    except UnicodeDecodeError:
        state[_NOT_UTF8] = segment
    return {**scope, "path": _PREFIX + segment + slash + unquote(rest), "state": state}


def run_id_of(request: Request, routed: str) -> str:
    """The run id the client sent: decoded from the raw segment when it was quoted.

    Raises HTTPException 400 when the segment's escapes are not UTF-8."""
    state = request.scope.get("state", {})
    raw = state.get(_NOT_UTF8)
    if isinstance(raw, str):
        shown = raw if len(raw) <= 80 else raw[:80] + "..."
        raise HTTPException(
            400, f"the run id {shown!r} is not UTF-8 once its %-escapes are decoded"
        )
    decoded = state.get(_STATE_KEY)
    return decoded if isinstance(decoded, str) else routed
