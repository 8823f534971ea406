"""The tool calls each model call of a loop asked for, when no span traces the tools. Pure.

A loop written by hand around an LLM client runs its tools itself, untraced: the run's
steps are its model calls alone. A person reading the trace still sees what each call asked
for and what came back: the call's answer names the tools (not every instrumentation
records it: OpenLLMetry's Ollama one does not), and every later call of the loop was sent
the same request followed by the answer and the results (a loop's conversation only grows).
So a model call's step is given the tool it asked for, its arguments and the result sent
back; for several calls in one answer, the names joined, and the arguments and results as
JSON lists. What follows a request is read from any later call, not only the next: the
steps are the same whichever of the calls in between are stored yet.

Messages are read in every shape the model-call readers know: the GenAI keys and events
(collector/event_messages.py), OpenInference's flattened keys and OpenLLMetry's indexed
ones, which keep the tool calls' names, arguments and ids here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from collector.conventions import genai as G
from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.event_messages import model_messages
from collector.messages import indexed_keys, loads

__all__ = ["asked_tool_fields", "answered_tool_calls", "result_told"]

_ASSISTANT_ROLES = {"assistant", "model"}
# A result wrapped as the one value of an object (Gemini's function response {"result": ...}).
_WRAPPER_KEYS = {"result", "output", "content"}


def asked_tool_fields(model_calls: Sequence[SpanRecord]) -> dict[str, dict[str, str]]:
    """``tool_name``, ``tool_args`` (JSON) and ``tool_result`` by span id, for each of a
    loop's model calls (in the order they were made) that asked for tools."""
    found: dict[str, dict[str, str]] = {}
    # Each call's request read once; a span holding no messages (a client's own beside an
    # instrumentation's) tells nothing.
    requests = [(c, sent) for c in model_calls if (sent := _conversation(c, "input"))]
    for index, (call, sent) in enumerate(requests):
        own = [c for m in _conversation(call, "output") for c in m.get("tool_calls") or []]
        asked, results = own, []
        later = _answer_sent_later(sent, [s for _, s in requests[index + 1 :]])
        told, after = later or ([], [])
        # A later request holds this call's answer when the names agree, or when it records
        # the answer without its tool calls (OpenLLMetry's Cohere spans) after this call's.
        names_agree = [c["name"] for c in own] == [c["name"] for c in told]
        if (told and (not own or names_agree)) or (later and own and not told):
            asked = told or own
            results = [m for m in after if m.get("role") == "tool" or m.get("id")]
        if not asked:
            continue
        matched = _match(asked, results)
        if len(asked) == 1:
            fields = {"tool_name": str(asked[0]["name"]), "tool_args": _json(asked[0]["arguments"])}
            if matched[0] is not None:
                fields["tool_result"] = matched[0]
        else:
            fields = {
                "tool_name": ", ".join(str(c["name"]) for c in asked),
                "tool_args": _json(
                    [{"name": c["name"], "arguments": c["arguments"]} for c in asked]
                ),
            }
            if any(r is not None for r in matched):
                fields["tool_result"] = _json(matched)
        found[call.span_id] = fields
    return found


def _answer_sent_later(
    sent: list[dict[str, Any]], later: list[list[dict[str, Any]]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
    """The tool calls of the answer to request ``sent`` and the messages sent back after
    it, as a later request of the loop holds them: one that repeats ``sent`` and goes on
    with an assistant message; None when no later request does."""
    size = len(sent)
    for request in later:
        if len(request) <= size or request[:size] != sent:
            continue
        answer = request[size]
        if answer.get("role") not in _ASSISTANT_ROLES:
            continue
        after = request[size + 1 :]
        # The results end where the model speaks again (call ids may repeat past there).
        end = next(
            (i for i, m in enumerate(after) if m.get("role") in _ASSISTANT_ROLES), len(after)
        )
        return answer.get("tool_calls") or [], after[:end]
    return None


def _match(asked: list[dict[str, Any]], results: list[dict[str, Any]]) -> list[str | None]:
    """Each asked call's result text: by call id where both name one, else in order.
    Ids that name no result at all are no ids to match by: OpenLLMetry's Responses API
    spans give a call its item's id (``fc_...``) and its result the ``call_id``."""
    by_id = {str(r["id"]): r for r in results if r.get("id")}
    if not any(str(c.get("id")) in by_id for c in asked if c.get("id")):
        by_id = {}
    out: list[str | None] = []
    for position, call in enumerate(asked):
        result = by_id.get(str(call.get("id"))) if call.get("id") else None
        if result is None and position < len(results) and not by_id:
            result = results[position]
        out.append(None if result is None else _result_text(result.get("content")))
    return out


def _result_text(content: Any) -> str | None:
    if content is None:
        return None
    parsed = loads(content)
    if isinstance(parsed, Mapping) and len(parsed) == 1:
        ((key, value),) = parsed.items()
        if key in _WRAPPER_KEYS and isinstance(value, str):
            return value
    document = _document_data(parsed)
    if document is not None:
        return document
    return content if isinstance(content, str) else _json(content)


def answered_tool_calls(span: SpanRecord) -> list[dict[str, Any]]:
    """The tool calls a model call answered with, as {"id", "name", "arguments"} (the
    arguments parsed when they are JSON)."""
    return [c for m in _conversation(span, "output") for c in m.get("tool_calls") or []]


def result_told(
    name: Any, arguments: Any, started_ns: int, model_calls: Sequence[SpanRecord]
) -> str | None:
    """What the model was told of a tool call no span names by id: the last call before
    ``started_ns`` that asked for ``name`` with ``arguments`` gives its id; a later call's
    request holds the result sent back under that id. None unless both are found."""
    ordered = sorted(model_calls, key=lambda s: (s.start_ns, s.span_id))
    asked = [
        (index, call)
        for index, span in enumerate(ordered)
        if span.end_ns <= started_ns
        for call in answered_tool_calls(span)
        if call.get("name") == name and call.get("arguments") == arguments and call.get("id")
    ]
    if not asked:
        return None
    index, call = asked[-1]
    for later in ordered[index + 1 :]:
        for message in _conversation(later, "input"):
            if message.get("id") == call["id"] and message.get("role") != "assistant":
                text = _result_text(message.get("content"))
                if text is not None:
                    return text
    return None


def _document_data(parsed: Any) -> str | None:
    """A result sent as one document, Cohere's tool content
    (``{"type": "document", "document": {"data": ...}}``, alone or in a list): its data."""
    if isinstance(parsed, list) and len(parsed) == 1:
        parsed = parsed[0]
    if not isinstance(parsed, Mapping) or parsed.get("type") != "document":
        return None
    data = parsed.get("document")
    data = data.get("data") if isinstance(data, Mapping) else None
    return data if isinstance(data, str) else None


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _conversation(span: SpanRecord, direction: str) -> list[dict[str, Any]]:
    """The call's messages with their tool calls as {"id", "name", "arguments"} and a tool
    result's call id as ``id``."""
    return (
        model_messages(span, direction)
        or _flat(span.attributes, direction)
        or _indexed(span.attributes, "prompt" if direction == "input" else "completion")
    )


def _flat(attrs: Mapping[str, Any], direction: str) -> list[dict[str, Any]]:
    """OpenInference's ``llm.{input,output}_messages.N.message.*``."""
    messages: dict[int, dict[str, Any]] = {}
    calls: dict[int, dict[int, dict[str, Any]]] = {}
    for number, rest, value in indexed_keys(attrs, OI.FLAT_MESSAGE, direction):
        message = messages.setdefault(number, {})
        if rest in {"role", "content", "name"}:
            message[rest] = value
        elif rest == "tool_call_id":
            message["id"] = value
        elif rest.startswith("tool_calls."):
            _, position, field = rest.split(".", 2)
            call = calls.setdefault(number, {}).setdefault(int(position), {})
            if field == OI.TOOL_CALL_ID:
                call["id"] = value
            elif field == OI.TOOL_CALL_FUNCTION_NAME:
                call["name"] = value
            elif field == OI.TOOL_CALL_FUNCTION_ARGUMENTS:
                call["arguments"] = loads(value)
    return _with_calls(messages, calls)


def _indexed(attrs: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    """OpenLLMetry's ``gen_ai.{prompt,completion}.N.*``."""
    messages: dict[int, dict[str, Any]] = {}
    calls: dict[int, dict[int, dict[str, Any]]] = {}
    for number, field, value in indexed_keys(attrs, G.INDEXED_MESSAGE, kind):
        message = messages.setdefault(number, {})
        if not field.startswith("tool_calls."):
            message[field] = value
            continue
        parts = field.split(".", 2)
        if len(parts) == 3 and parts[1].isdigit():
            call = calls.setdefault(number, {}).setdefault(int(parts[1]), {})
            call[parts[2]] = loads(value) if parts[2] == "arguments" else value
    return _with_calls(messages, calls)


def _with_calls(
    messages: dict[int, dict[str, Any]], calls: dict[int, dict[int, dict[str, Any]]]
) -> list[dict[str, Any]]:
    out = []
    for number in sorted(messages):
        message = messages[number]
        listed = [calls[number][p] for p in sorted(calls.get(number, {}))]
        named = [
            {"id": c.get("id"), "name": c["name"], "arguments": c.get("arguments")}
            for c in listed
            if c.get("name")
        ]
        if named:
            message["tool_calls"] = named
        out.append(message)
    return out
