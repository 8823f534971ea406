"""Turning agent values into span attribute values without ever raising."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from opentelemetry.util.types import AttributeValue

__all__ = [
    "attribute_value",
    "clean_text",
    "error_text",
    "error_type",
    "json_text",
    "name_text",
    "plain_str",
    "result_text",
    "safe_repr",
    "safe_text",
]

logger = logging.getLogger(__name__)

_PRIMITIVES = (str, bool, int, float)
# OTLP carries integers as int64: a bigger one makes the SDK's encoder drop the key.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# A lone surrogate cannot be encoded as UTF-8: the SDK's encoder drops the key, or the
# whole batch when it is in a span name. OTEP 0257 asks for U+FFFD in its place.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Span names are labels: a name past this is cut (its full text is in no attribute).
NAME_MAX_CHARS = 1024


def plain_str(value: Any) -> Any:
    """A ``str`` subclass as a plain ``str`` (its own methods never run); anything else as is.

    An agent may pass a str subclass whose ``__eq__``, ``__len__`` or ``isascii``
    raises: comparing or measuring the plain copy cannot.
    """
    if isinstance(value, str) and type(value) is not str:
        return str.__str__(value)
    return value


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (valid UTF-8 for the wire)."""
    text = plain_str(text)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text)
    return text


def safe_text(value: Any) -> str:
    """``str(value)``, never raising (a broken ``__str__`` gives a placeholder), valid UTF-8."""
    if isinstance(value, str):
        return clean_text(value)
    try:
        text = str(value)
        if not isinstance(text, str):  # a __str__ returning something else
            raise TypeError("__str__ returned a non-string")
    except Exception:
        return f"<unprintable {type(value).__name__}>"
    return clean_text(text)


def name_text(value: Any) -> str:
    """A label for a span name: :func:`safe_text`, cut at :data:`NAME_MAX_CHARS`."""
    text = safe_text(value)
    return text if len(text) <= NAME_MAX_CHARS else text[: NAME_MAX_CHARS - 1] + "…"


def is_blank(value: Any) -> bool:
    """None or the empty string; never calls the value's own ``__bool__``/``__eq__``."""
    return value is None or (isinstance(value, str) and not plain_str(value))


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


def safe_repr(value: Any) -> str:
    """``repr(value)``, never raising (a broken ``__repr__`` gives a placeholder), valid UTF-8."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not reach the agent
        return f"<unrepresentable {type(value).__name__}>"
    return (
        clean_text(text) if isinstance(text, str) else f"<unrepresentable {type(value).__name__}>"
    )


def json_text(value: Any) -> str:
    """``value`` as JSON text; ``repr`` when it cannot be encoded at all."""
    try:
        return clean_text(json.dumps(value, ensure_ascii=False, default=_json_default))
    except Exception:  # circular references, broken model_dump, recursion depth
        logger.debug("value of type %s is not JSON-encodable", safe_text(type(value).__name__))
        return safe_repr(value)


def result_text(value: Any) -> str:
    """A tool result as text: strings kept as they are, anything else JSON."""
    if isinstance(value, str):
        return clean_text(str.__str__(value))
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return json_text(value)


def _primitive(value: Any) -> Any:
    """A primitive as OTLP can carry it: str valid UTF-8, int within int64, floats finite.

    Out-of-range ints and NaN or infinities become text ("NaN", "Infinity"): the
    collector refuses a span holding a non-finite number, and the SDK drops an
    int64 overflow with a traceback.
    """
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        whole = int(value)
        return whole if _INT64_MIN <= whole <= _INT64_MAX else str(whole)
    if isinstance(value, float):
        number = float(value)
        if math.isfinite(number):
            return number
        return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
    return clean_text(str.__str__(value))


def attribute_value(value: Any) -> AttributeValue | None:
    """A value OpenTelemetry accepts as an attribute, or None to leave it out. Never raises.

    Primitives and homogeneous sequences of primitives pass through (made
    encodable by :func:`_primitive`); anything else becomes JSON text.
    """
    try:
        if value is None:
            return None
        if isinstance(value, _PRIMITIVES):
            return _primitive(value)  # type: ignore[no-any-return]
        if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
            raw = list(value)
            homogeneous = raw and all(type(item) is type(raw[0]) for item in raw)
            if homogeneous and isinstance(raw[0], _PRIMITIVES):
                items = [_primitive(item) for item in raw]
                # A number made text (NaN, an int64 overflow) breaks the list's type.
                if all(type(item) is type(items[0]) for item in items):
                    return items  # type: ignore[return-value]
                return json_text(raw)
        if isinstance(value, Mapping | Sequence):
            return json_text(value)
        return result_text(value)
    except Exception:  # a value whose iteration or conversion raises
        return safe_repr(value)


def error_type(exc: BaseException) -> str:
    """The exception's class name, module-qualified outside builtins (OTel ``error.type``)."""
    cls = type(exc)
    if cls.__module__ in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def error_text(error: BaseException | str) -> str:
    """A one-line description: ``Type: message`` for exceptions, the text itself otherwise."""
    if isinstance(error, str):
        return clean_text(str.__str__(error))
    try:
        message = str(error)
        if not isinstance(message, str):
            message = ""
    except Exception:
        message = ""
    name = type(error).__name__
    return clean_text(f"{name}: {message}" if message else name)
