"""OTLP/JSON span ids, hex on the wire, made ready for protobuf's JSON parser. Pure."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from collector.otlp_json_keys import snake_case_ids

__all__ = ["prepare_json_span"]


# OTLP/JSON encodes trace and span ids as hex, not base64 as proto3 JSON would
# (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding). Parsing the
# JSON straight with json_format would base64-decode the hex silently, so ids
# are rewritten to base64 first; a span with an id that is not hex is rejected.
def _hex_to_b64(value: Any, expected_bytes: int, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise ValueError(f"id {value!r} is not a string")
    if value == "" and allow_empty:
        return ""
    if len(value) != expected_bytes * 2:
        raise ValueError(f"id {value!r} is not {expected_bytes * 2} hex digits")
    try:
        raw = binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        raise ValueError(f"id {value!r} is not hex") from None
    return base64.b64encode(raw).decode("ascii")


_ID_NAMES = {"traceId": "trace_id", "spanId": "span_id", "parentSpanId": "parent_span_id"}


def _rewrite_ids(
    obj: dict[str, Any], keys: tuple[tuple[str, int, bool], ...], where: str = ""
) -> None:
    for key, size, allow_empty in keys:
        if key in obj and obj[key] is not None:
            try:
                obj[key] = _hex_to_b64(obj[key], size, allow_empty)
            except ValueError as exc:
                raise ValueError(f"{where}{_ID_NAMES[key]}: {exc}") from None


_SPAN_ID_KEYS = (("traceId", 16, False), ("spanId", 8, False), ("parentSpanId", 8, True))
_LINK_ID_KEYS = (("traceId", 16, False), ("spanId", 8, False))


def prepare_json_span(span: dict[str, Any]) -> None:
    """Rewrite a span's (and its links') hex ids as base64 for json_format, in place;
    ValueError names an id that is not hex of the right length."""
    snake_case_ids(span)
    _rewrite_ids(span, _SPAN_ID_KEYS)
    links = span.get("links")
    # Links that are not a list are refused with the other values of the wrong
    # type (collector/otlp_json_values.py).
    for index, link in enumerate(links if isinstance(links, list) else []):
        if not isinstance(link, dict):
            raise ValueError(f"link {index} is not a JSON object")
        snake_case_ids(link)
        _rewrite_ids(link, _LINK_ID_KEYS, f"link {index} ")
