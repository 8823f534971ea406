"""Calls grouped with OpenLIT's ``@openlit.trace`` or ``openlit.start_trace``.

OpenLIT's documented way to group the model calls its instrumentations trace: the
topmost such span (no parent) is the unit of work, a run, whose steps are the calls below
it; one nested in it only groups part of them and is no step (as a Traceloop ``@task``). Its
task: its one text argument, read from the arguments' repr (where an object argument makes
the whole no literal, from the string literals at its top level); its answer: the return
value it recorded (raw text, not GenAI messages). Else what its model calls tell (the
generic reading). See SPANS.md.
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Iterator, Mapping
from typing import Any

from collector.conventions import genai as G
from collector.conventions import openlit as OL
from collector.decode import SpanRecord
from collector.messages import loads
from collector.python_literals import literal_eval
from collector.rules.common import python_literal

__all__ = ["SCOPES", "span_class", "run_fields"]

SCOPES = frozenset({OL.SCOPE})
_STATUS_ERROR = 2


def span_class(span: SpanRecord) -> str | None:
    return "run" if span.parent_span_id is None else "other"


def run_fields(span: SpanRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {"agent_name": span.name}
    texts = [*_top_strings(span.attributes.get(OL.FUNCTION_ARGS)), *_kwarg_strings(span)]
    texts = [t for t in texts if t.strip()]
    if len(texts) == 1:
        fields["task"] = texts[0]
    result = span.attributes.get(G.GEN_AI_OUTPUT_MESSAGES)
    # The return value as text; a value that parses as a list is messages, read generically.
    answered = span.status_code != _STATUS_ERROR
    if answered and isinstance(result, str) and not isinstance(loads(result), list):
        fields["final_answer"] = result
    return fields


def _top_strings(text: Any) -> Iterator[str]:
    """The string literals directly inside a tuple's repr (not those nested deeper)."""
    if not isinstance(text, str):
        return
    depth = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth -= 1
            elif token.type == tokenize.STRING and depth == 1:
                value = literal_eval(token.string)
                if isinstance(value, str):
                    yield value
    except (tokenize.TokenError, SyntaxError, ValueError):  # cut short or not Python
        return


def _kwarg_strings(span: SpanRecord) -> list[str]:
    kwargs = python_literal(span.attributes.get(OL.FUNCTION_KWARGS))
    if not isinstance(kwargs, Mapping):
        return []
    return [v for v in kwargs.values() if isinstance(v, str)]
