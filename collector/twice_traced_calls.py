"""One step per model call when a client and an instrumentation both trace it side by side.

Some LLM clients trace their own API calls (the Anthropic Python SDK, scope
``com.anthropic.sdk.python``: one ``chat`` span per call, model and tokens but no messages by
default). An instrumentation of the same client (OpenLLMetry's) traces the call again
without making its span current, so the two spans are siblings, or, with no span of the
program's around the call, the roots of two traces. collector/model_calls.py keeps one of a
call traced one inside the other; this keeps one of a call traced side by side: a span with
no messages is the same call as a span with messages that got the same response
(``gen_ai.response.id``), lies within its time, names no other served model and counted no
other tokens, or, for a call that failed (no response), one of the same trace and parent
that started no earlier and ended no later.

A response id alone is no proof: some servers repeat them (Ollama's OpenAI endpoint answers
``chatcmpl-`` and a number below 999), so two unrelated calls of agents that capture
messages differently can share one. Twins in two traces (no span of the program's around
the call) must both have counted tokens, and the same; twins under one parent must not
contradict each other's model or tokens. The span with the messages is the
step; the other is no step, whichever arrived first (a step stored before its twin arrived
is removed, and its run refreshed).

The twins of recent calls are remembered in memory, bounded: a live exporter sends both
within moments; a restart between them forgets, as for collector/model_calls.py.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from collector.conventions import genai as G
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.mapping import SpanClass, is_pending
from collector.span_values import token_count
from collector.trace_owned_ids import trace_scoped_id
from instrumentation import attributes as A

__all__ = ["RecentCalls", "one_step_per_call_side_by_side"]

_REMEMBERED = 20_000
_FAILED_PER_PARENT = 64
_STATUS_ERROR = 2
# Cache reads and writes, under the names conventions and clients have given them
# (gen_ai.usage.cache_read.input_tokens, ...cache_creation..., ...cache_write...).
_CACHE_KEY_PREFIX = "gen_ai.usage.cache_"
_INPUT_TOKENS_SUFFIX = "input_tokens"
# Keys whose presence means the span holds the conversation (any convention's shape).
_MESSAGE_KEYS = (G.GEN_AI_INPUT_MESSAGES, G.GEN_AI_OUTPUT_MESSAGES, OI.INPUT_VALUE)
_MESSAGE_PATTERNS = (G.INDEXED_MESSAGE, OI.FLAT_MESSAGE)
# Events holding messages, in any of the forms the GenAI conventions have had.
_MESSAGE_EVENTS = frozenset(
    {
        *G.MESSAGE_EVENT_ROLES,
        G.EVENT_CHOICE,
        G.EVENT_OPERATION_DETAILS,
        G.EVENT_CONTENT_PROMPT,
        G.EVENT_CONTENT_COMPLETION,
    }
)


@dataclass(frozen=True, slots=True)
class _Call:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    start_ns: int
    end_ns: int
    with_messages: bool
    served_model: str | None = None
    # The prompt's count as counted with and without cache reads and writes (conventions
    # differ on whether input_tokens includes them); empty when the span counted none.
    input_tokens: frozenset[int] = frozenset()
    output_tokens: int | None = None


@dataclass
class RecentCalls:
    """Model calls recently stored, by response id, and failed ones by (trace, parent)."""

    by_response: OrderedDict[str, _Call] = field(default_factory=OrderedDict)
    failed: OrderedDict[tuple[str, str], list[_Call]] = field(default_factory=OrderedDict)

    def remember(self, call: _Call, response_id: str | None) -> None:
        if response_id:
            self.by_response[response_id] = call
            self.by_response.move_to_end(response_id)
            while len(self.by_response) > _REMEMBERED:
                self.by_response.popitem(last=False)
        elif call.parent_span_id:
            key = (call.trace_id, call.parent_span_id)
            calls = self.failed.setdefault(key, [])
            calls.append(call)
            del calls[:-_FAILED_PER_PARENT]  # a retrying loop's latest failures are enough
            self.failed.move_to_end(key)
            while len(self.failed) > _REMEMBERED:
                self.failed.popitem(last=False)

    def twin(self, call: _Call, response_id: str | None) -> _Call | None:
        """A remembered call that is ``call`` traced by the other side, or None."""
        if response_id:
            other = self.by_response.get(response_id)
            if other is not None and _side_by_side(call, other):
                return other
            return None
        if not call.parent_span_id:
            return None
        for other in self.failed.get((call.trace_id, call.parent_span_id), []):
            if _side_by_side(call, other):
                return other
        return None


def one_step_per_call_side_by_side(
    con: duckdb.DuckDBPyConnection,
    spans: Sequence[SpanRecord],
    classes: list[SpanClass],
    recent: RecentCalls,
    left_runs: set[str],
) -> list[SpanClass]:
    """``classes`` with the message-less twin of a model call traced side by side made
    OTHER; a twin stored earlier is removed from the steps (its run added to ``left_runs``)."""
    result = list(classes)
    in_batch: dict[tuple[str, str], int] = {}
    for index, (span, cls) in enumerate(zip(spans, classes, strict=True)):
        if cls is not SpanClass.LLM or is_pending(span) or A.RUN_ID in span.attributes:
            continue
        call = _call(span)
        response_id = _response_id(span)
        if response_id is None and span.status_code != _STATUS_ERROR:
            continue
        other = recent.twin(call, response_id)
        if other is None:
            recent.remember(call, response_id)
            in_batch[(call.trace_id, call.span_id)] = index
        elif not call.with_messages:
            result[index] = SpanClass.OTHER  # the twin with the messages is the step
        else:
            earlier = in_batch.get((other.trace_id, other.span_id))
            if earlier is not None:
                result[earlier] = SpanClass.OTHER
            else:
                _remove_step(con, other, left_runs)
            recent.remember(call, response_id)
    return result


def _call(span: SpanRecord) -> _Call:
    attrs = span.attributes
    with_messages = (
        any(key in attrs for key in _MESSAGE_KEYS)
        or any(pattern.match(key) for pattern in _MESSAGE_PATTERNS for key in attrs)
        or any(event.get("name") in _MESSAGE_EVENTS for event in span.events or ())
    )
    served = attrs.get(G.GEN_AI_RESPONSE_MODEL) or attrs.get(OI.LLM_MODEL_NAME)
    return _Call(
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.start_ns,
        span.end_ns,
        with_messages,
        served_model=str(served) if served else None,
        input_tokens=_input_counts(attrs),
        output_tokens=token_count(
            attrs.get(A.GEN_AI_USAGE_OUTPUT_TOKENS, attrs.get(OI.LLM_TOKEN_COUNT_COMPLETION))
        ),
    )


def _input_counts(attrs: dict[str, Any]) -> frozenset[int]:
    raw = token_count(attrs.get(A.GEN_AI_USAGE_INPUT_TOKENS, attrs.get(OI.LLM_TOKEN_COUNT_PROMPT)))
    if raw is None:
        return frozenset()
    cached = sum(
        count
        for key, value in attrs.items()
        if key.startswith(_CACHE_KEY_PREFIX)
        and key.endswith(_INPUT_TOKENS_SUFFIX)
        and (count := token_count(value))
    )
    return frozenset({raw, raw + cached})


def _response_id(span: SpanRecord) -> str | None:
    value = span.attributes.get(G.GEN_AI_RESPONSE_ID)
    return value if isinstance(value, str) and value else None


def _side_by_side(call: _Call, other: _Call) -> bool:
    """Whether two spans can be one call traced twice: one with messages and one without,
    under the same parent of one trace (or both the roots of their traces), one lying
    within the other's time (the wrapper's around the client's)."""
    if call.with_messages == other.with_messages:
        return False
    if call.parent_span_id or other.parent_span_id:
        same_place = (call.trace_id, call.parent_span_id) == (other.trace_id, other.parent_span_id)
        if not same_place:
            return False
    a, b = (call, other) if call.start_ns >= other.start_ns else (other, call)
    return a.end_ns <= b.end_ns and _one_answer(call, other)


def _one_answer(call: _Call, other: _Call) -> bool:
    """Whether what the two spans say of the answer can be one answer's: no two served
    models, no two token counts. Roots of two traces share nothing else, so they must
    both have counted the tokens, and alike."""
    if call.served_model and other.served_model and call.served_model != other.served_model:
        return False
    outputs = (call.output_tokens, other.output_tokens)
    inputs = (call.input_tokens, other.input_tokens)
    if None not in outputs and outputs[0] != outputs[1]:
        return False
    if all(inputs) and not inputs[0] & inputs[1]:
        return False
    if call.trace_id == other.trace_id:
        return True
    return None not in outputs or all(inputs)


def _remove_step(con: duckdb.DuckDBPyConnection, call: _Call, left_runs: set[str]) -> None:
    removed = con.execute(
        "DELETE FROM agent_steps WHERE id IN (?, ?) AND trace_id = ? AND span_id = ? "
        "RETURNING agent_run_id",
        [call.span_id, trace_scoped_id(call.span_id, call.trace_id), call.trace_id, call.span_id],
    ).fetchall()
    left_runs.update(row[0] for row in removed if row[0] is not None)
