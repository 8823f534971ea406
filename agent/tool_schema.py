"""JSON schemas from Python signatures, and the check of a model's arguments against them.

Supported parameter annotations: ``str``, ``int``, ``float``, ``bool``, ``list[X]``,
``dict[str, X]``, ``Literal[...]``, ``X | None`` and no annotation (any JSON value).
A parameter with a default is optional. ``*args`` and ``**kwargs`` are refused.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from agent.errors import ToolRegistrationError

__all__ = ["check_arguments", "describe_function", "schema_from_signature"]

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_ARG_LINE = re.compile(r"^\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$")


def describe_function(function: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """The docstring's first paragraph, and per-parameter text from an ``Args:`` section."""
    doc = inspect.getdoc(function) or ""
    paragraphs = doc.split("\n\n")
    summary = " ".join(paragraphs[0].split()) if doc else ""
    parameters: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if in_args:
            if not stripped:
                continue
            if stripped.endswith(":") and not line.startswith((" ", "\t")):
                break  # the next section (Returns:, Raises:)
            match = _ARG_LINE.match(line)
            if match:
                parameters[match.group(1)] = match.group(2).strip()
    return summary, parameters


def schema_from_signature(function: Callable[..., Any]) -> dict[str, Any]:
    """A JSON schema (``type: object``) of ``function``'s parameters."""
    try:
        signature = inspect.signature(function)
        hints = typing.get_type_hints(function)
    except (TypeError, ValueError, NameError) as exc:
        raise ToolRegistrationError(f"cannot read the signature of {function!r}: {exc}") from None
    _, texts = describe_function(function)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ToolRegistrationError(
                f"{getattr(function, '__name__', function)}: *args/**kwargs cannot be described "
                "to a model; name every parameter or pass schema="
            )
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise ToolRegistrationError(f"parameter {name!r} is positional-only")
        schema = _type_schema(hints.get(name, inspect.Parameter.empty), name)
        if name in texts:
            schema["description"] = texts[name]
        if parameter.default is inspect.Parameter.empty:
            required.append(name)
        elif _json_literal(parameter.default):
            schema["default"] = parameter.default
        properties[name] = schema
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _type_schema(annotation: Any, name: str) -> dict[str, Any]:
    if annotation is inspect.Parameter.empty or annotation is Any:
        return {}
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Literal:
        return {"enum": list(arguments)}
    if origin in (typing.Union, types.UnionType):
        members = [a for a in arguments if a is not type(None)]
        nullable = len(members) < len(arguments)
        if len(members) == 1:
            inner = _type_schema(members[0], name)
            if nullable and isinstance(inner.get("type"), str):
                inner["type"] = [inner["type"], "null"]
            elif nullable:
                inner = {"anyOf": [inner, {"type": "null"}]}
            return inner
        options = [_type_schema(member, name) for member in members]
        if nullable:
            options.append({"type": "null"})
        return {"anyOf": options}
    if annotation is list or origin is list:
        item = _type_schema(arguments[0], name) if arguments else {}
        return {"type": "array", "items": item} if item else {"type": "array"}
    if annotation is dict or origin is dict:
        if arguments and arguments[0] is not str:
            raise ToolRegistrationError(f"parameter {name!r}: JSON object keys are strings")
        value = _type_schema(arguments[1], name) if len(arguments) == 2 else {}
        return {"type": "object", "additionalProperties": value} if value else {"type": "object"}
    raise ToolRegistrationError(
        f"parameter {name!r}: cannot describe {annotation!r} as JSON; pass schema="
    )


def _json_literal(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


# --- checking the model's arguments --------------------------------------------------


def check_arguments(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> str | None:
    """What is wrong with ``arguments`` for ``schema`` (top level and simple types), or None."""
    properties: Mapping[str, Any] = schema.get("properties") or {}
    unknown = sorted(set(arguments) - set(properties))
    if unknown and schema.get("additionalProperties") is False:
        return f"unexpected argument(s) {', '.join(unknown)}; expected {sorted(properties)}"
    missing = [name for name in schema.get("required") or [] if name not in arguments]
    if missing:
        return f"missing required argument(s) {', '.join(missing)}"
    for name, value in arguments.items():
        problem = _value_problem(properties.get(name) or {}, value)
        if problem:
            return f"argument {name!r} {problem}"
    return None


_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def _value_problem(schema: Mapping[str, Any], value: Any) -> str | None:
    if "enum" in schema and value not in schema["enum"]:
        return f"must be one of {schema['enum']}, got {value!r}"
    expected = schema.get("type")
    if expected is None:
        if "anyOf" in schema:
            problems = [_value_problem(option, value) for option in schema["anyOf"]]
            if all(problems):
                return f"matches none of the allowed types, got {value!r}"
        return None
    names = [expected] if isinstance(expected, str) else list(expected)
    if not any(_JSON_TYPES.get(type_name, lambda v: True)(value) for type_name in names):
        return f"must be {' or '.join(names)}, got {type(value).__name__} {value!r:.80}"
    return None
