"""Turning agent values into span attribute values without ever raising."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from opentelemetry.util.types import AttributeValue

__all__ = ["attribute_value", "error_text", "error_type", "json_text", "result_text"]

logger = logging.getLogger(__name__)

_PRIMITIVES = (str, bool, int, float)


def _json_default(value: Any) -> Any:
    """Values json cannot encode: a faithful form where one exists, else repr."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(dump):
        return dump(mode="json")
    return repr(value)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # a broken __repr__ must not reach the agent
        return f"<unrepresentable {type(value).__name__}>"


def json_text(value: Any) -> str:
    """``value`` as JSON text; ``repr`` when it cannot be encoded at all."""
    try:
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    except Exception:  # circular references, broken model_dump, recursion depth
        logger.debug("value of type %s is not JSON-encodable", type(value).__name__)
        return _safe_repr(value)


def result_text(value: Any) -> str:
    """A tool result as text: strings kept as they are, anything else JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return json_text(value)


def attribute_value(value: Any) -> AttributeValue | None:
    """A value OpenTelemetry accepts as an attribute, or None to leave it out.

    Primitives and homogeneous sequences of primitives pass through; anything
    else becomes JSON text.
    """
    if value is None:
        return None
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items = list(value)
        homogeneous = all(type(item) is type(items[0]) for item in items)
        if items and homogeneous and isinstance(items[0], _PRIMITIVES):
            return items  # type: ignore[return-value]
    if isinstance(value, Mapping | Sequence):
        return json_text(value)
    return result_text(value)


def error_type(exc: BaseException) -> str:
    """The exception's class name, module-qualified outside builtins (OTel ``error.type``)."""
    cls = type(exc)
    if cls.__module__ in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def error_text(error: BaseException | str) -> str:
    """A one-line description: ``Type: message`` for exceptions, the text itself otherwise."""
    if isinstance(error, str):
        return error
    try:
        message = str(error)
    except Exception:
        message = ""
    name = type(error).__name__
    return f"{name}: {message}" if message else name
