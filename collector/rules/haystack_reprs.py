"""Haystack ``ChatMessage`` objects as openinference-instrumentation-haystack records them: their
Python repr, inside the JSON of ``input.value`` / ``output.value``. Pure.

    ChatMessage(_role=<ChatRole.TOOL: 'tool'>, _content=[ToolCallResult(result='64.4',
      origin=ToolCall(tool_name='to_fahrenheit', arguments={'celsius': 18}, id='call_2',
      extra=None), error=False)], _name=None, _meta={})

Read into the chat shape the other readers share: ``{"role", "content", "tool_calls":
[{"id", "name", "arguments"}], "tool_results": [{"id", "name", "arguments", "result",
"error"}]}``. Only literals are evaluated (``ast.literal_eval``); anything else, or a repr
cut short by the size limit, is left out.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterator
from typing import Any

from collector.python_literals import literal_eval

__all__ = ["chat_message"]

_ROLE = re.compile(r"ChatMessage\(_role=<ChatRole\.\w+: '(\w+)'>")
_CONTENT = "_content=["
_OBJECT = re.compile(r"([A-Z]\w*)\(")
_KEYWORD = re.compile(r"\s*(\w+)=")
_OPENING = frozenset("([{")
_CLOSING = frozenset(")]}")


class _Unreadable(ValueError):
    """A repr this reader does not follow (cut short, or not literals)."""


def chat_message(text: Any) -> dict[str, Any] | None:
    """One ChatMessage repr as a chat message, or None when it is none."""
    if not isinstance(text, str):
        return None
    role = _ROLE.match(text)
    if role is None:
        return None
    message: dict[str, Any] = {"role": role.group(1)}
    start = text.find(_CONTENT, role.end())
    if start < 0:
        return message
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    try:
        for name, fields in _objects(text, start + len(_CONTENT)):
            if name == "TextContent" and isinstance(fields.get("text"), str):
                texts.append(fields["text"])
            elif name == "ToolCall":
                calls.append(_call(fields))
            elif name == "ToolCallResult":
                origin = fields.get("origin")
                call = _call(origin[1]) if isinstance(origin, tuple) else {}
                results.append(
                    {**call, "result": fields.get("result"), "error": bool(fields.get("error"))}
                )
    except _Unreadable:
        pass  # what was read before the cut is kept
    if texts:
        message["content"] = "\n".join(texts)
    if calls:
        message["tool_calls"] = calls
    if results:
        message["tool_results"] = results
    return message


def _call(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": fields.get("id"),
        "name": fields.get("tool_name"),
        "arguments": fields.get("arguments"),
    }


def _objects(text: str, pos: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """The ``Name(key=value, ...)`` items of a list starting at ``pos``, up to its ``]``;
    those before an unreadable one come out before it raises."""
    while True:
        pos = _skip(text, pos, ", ")
        if pos >= len(text) or text[pos] == "]":
            return
        name, fields, pos = _object_at(text, pos)
        yield name, fields


def _object_at(text: str, pos: int, depth: int = 0) -> tuple[str, dict[str, Any], int]:
    opened = _OBJECT.match(text, pos)
    if opened is None or depth > 8:
        raise _Unreadable(pos)
    pos = opened.end()
    fields: dict[str, Any] = {}
    while True:
        pos = _skip(text, pos, ", ")
        if pos >= len(text):
            raise _Unreadable(pos)
        if text[pos] == ")":
            return opened.group(1), fields, pos + 1
        key = _KEYWORD.match(text, pos)
        if key is None:
            raise _Unreadable(pos)
        pos = key.end()
        if _OBJECT.match(text, pos):
            name, nested, pos = _object_at(text, pos, depth + 1)
            fields[key.group(1)] = (name, nested)
        elif text.startswith("<", pos):  # an enum's repr, <ChatRole.USER: 'user'>
            end = text.find(">", pos)
            if end < 0:
                raise _Unreadable(pos)
            pos = end + 1
        else:
            fields[key.group(1)], pos = _literal_at(text, pos)


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _literal_at(text: str, pos: int) -> tuple[Any, int]:
    """The Python literal starting at ``pos`` (up to a ``,`` or closing bracket outside it)
    and where it ends."""
    rest = text[pos:]
    starts = [0]
    for line in rest.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    depth = 0
    end = None
    try:
        for token in tokenize.generate_tokens(io.StringIO(rest).readline):
            if token.type != tokenize.OP:
                continue
            if token.string in _OPENING:
                depth += 1
            elif token.string in _CLOSING and depth:
                depth -= 1
            elif token.string in _CLOSING or (token.string == "," and not depth):
                end = starts[token.start[0] - 1] + token.start[1]
                break
    except (tokenize.TokenError, SyntaxError, IndentationError) as exc:
        raise _Unreadable(pos) from exc
    if end is None:
        raise _Unreadable(pos)
    try:
        return literal_eval(rest[:end].strip()), pos + end
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise _Unreadable(pos) from exc
