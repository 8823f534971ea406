"""``GET /spans/{trace_id}/{span_id}``: one stored span, as the dashboard's step pane shows it.

Mounted by collector.http_app next to collector.api's router. The raw span of a
step is read by its primary key here rather than through ``/sql``, whose worker
copies the tables on its first query (seconds on a large store).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from collector.columns import SPANS, names
from collector.serialize import json_value, parse_json_text
from collector.span_chat import span_model_messages
from collector.store import RunStore

__all__ = ["router"]

router = APIRouter()

_HEX = re.compile(r"^[0-9a-f]{1,32}$")
_COLUMNS = names(SPANS)
_JSON_COLUMNS = frozenset(c.name for c in SPANS if c.sql_type == "JSON")


@router.get(
    "/spans/{trace_id}/{span_id}",
    summary="One stored span",
    description=(
        "The span as stored (after redaction and truncation): every `spans` column, "
        "`attributes`, `events`, `links` and `resource` as JSON, and `model_messages`: "
        "a model call's `input` and `output` messages as the collector reads them "
        "(GenAI attributes or events, LiteLLM's raw request; empty lists otherwise). "
        "Ids are lower-case hex. 404 when no such span is stored."
    ),
    tags=["runs"],
    responses={404: {"description": "No span has these ids"}},
)
def get_span_route(request: Request, trace_id: str, span_id: str) -> dict[str, Any]:
    if not _HEX.match(trace_id) or not _HEX.match(span_id):
        raise HTTPException(400, "trace and span ids are lower-case hex (32 and 16 digits)")
    store: RunStore = request.app.state.store
    row = store.read(
        lambda cur: cur.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM spans WHERE trace_id = ? AND span_id = ?",
            [trace_id, span_id],
        ).fetchone()
    )
    if row is None:
        raise HTTPException(404, f"no span {trace_id}/{span_id} is stored")
    span = {
        name: parse_json_text(value) if name in _JSON_COLUMNS else json_value(value)
        for name, value in zip(_COLUMNS, row, strict=True)
    }
    span["model_messages"] = span_model_messages(span)
    return span
