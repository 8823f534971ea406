"""The keys of an OTLP/JSON request that hold its spans, read as every sender writes them.

Two ways a sender's spans were acknowledged and dropped unseen:

- proto3's JSON mapping lets a writer use the fields' original names
  (``resource_spans``, ``scope_spans``, ``trace_id``: protobuf's
  ``MessageToJson(preserving_proto_field_name=True)``), and the
  OpenTelemetry Collector's reader accepts both spellings. Here only the
  lowerCamelCase ones were looked for: a whole request written the other
  way was answered 200 with nothing stored;
- a JSON object may name a key twice (RFC 8259 leaves the meaning to the
  reader). Python's parser keeps the last value, so ``{"resourceSpans":
  [A], "resourceSpans": [B]}`` lost A. The Collector's reader appends every
  occurrence of a repeated field, and so does this one for the keys that
  hold spans, whose values are lists.

Duplicates are found by counting the key names in the raw bytes against the
keys the parse kept; only a body where they differ is parsed again, with a
hook that merges repeated lists, so ordinary requests pay a few byte counts.
Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SPAN_LIST_KEYS",
    "span_lists",
    "hides_repeated_keys",
    "merge_repeated_pairs",
    "snake_case_ids",
]

# Each level's list of the next, lowerCamelCase first.
SPAN_LIST_KEYS = (
    ("resourceSpans", "resource_spans"),
    ("scopeSpans", "scope_spans"),
    ("spans",),
)
_NAMES = frozenset(name for names in SPAN_LIST_KEYS for name in names)
_ID_KEYS = {"trace_id": "traceId", "span_id": "spanId", "parent_span_id": "parentSpanId"}


def span_lists(document: Any, level: int) -> list[Any] | Any:
    """The list of the next level under ``document`` (a dict), whichever
    spelling holds it; both spellings are joined. None when neither is there;
    a value that is not a list is returned as it is, for the caller to refuse."""
    if not isinstance(document, dict):
        return None
    found = [document[name] for name in SPAN_LIST_KEYS[level] if document.get(name) is not None]
    if not found:
        return None
    if len(found) == 1 or not all(isinstance(value, list) for value in found):
        return found[0]
    return [item for value in found for item in value]


def _kept_keys(document: Any) -> int:
    """How many of the span-holding keys the parsed document has, at their levels."""
    count = 0
    resources = _present(document, 0)
    count += len(resources[1])
    for resource in resources[0]:
        scopes = _present(resource, 1)
        count += len(scopes[1])
        for scope in scopes[0]:
            count += len(_present(scope, 2)[1])
    return count


def _present(document: Any, level: int) -> tuple[list[Any], list[str]]:
    if not isinstance(document, dict):
        return [], []
    names = [name for name in SPAN_LIST_KEYS[level] if name in document]
    items = [item for name in names if isinstance(document[name], list) for item in document[name]]
    return items, names


def hides_repeated_keys(body: bytes, document: Any) -> bool:
    """Whether ``body`` names a span-holding key more often than ``document``
    (its parse) kept: a key given twice in one object, or a false alarm (the
    name as a string value somewhere), which costs only a second parse."""
    written = sum(body.count(b'"' + name.encode() + b'"') for name in _NAMES)
    return written != _kept_keys(document)


def merge_repeated_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads``: a span-holding key given twice
    keeps the elements of both lists; any other key keeps its last value."""
    merged: dict[str, Any] = {}
    for key, value in pairs:
        before = merged.get(key)
        if key in _NAMES and isinstance(before, list) and isinstance(value, list):
            merged[key] = before + value
        else:
            merged[key] = value
    return merged


def snake_case_ids(span_or_link: dict[str, Any]) -> None:
    """Rename ``trace_id``, ``span_id`` and ``parent_span_id`` to their
    lowerCamelCase names (where those are not also given), in place."""
    for snake, camel in _ID_KEYS.items():
        if snake in span_or_link and camel not in span_or_link:
            span_or_link[camel] = span_or_link.pop(snake)
