"""Bound the width and precision in ``printf`` and ``format`` format strings in ``/sql``.

DuckDB pads a value to the width (or writes the digits of the precision) a format
string asks for inside one function call, which it cannot interrupt:
``printf('%999999999d', 1)`` and ``format('{:>999999999}', 'x')`` ran past 20 s on
this machine (a width of 64,000,000 took 2-3 s). The functions take any number of
arguments, so they cannot be wrapped in a checking macro like ``repeat``
(collector/sql_string_sizes.py); the query check reads the format string instead.
It must be a string literal; a width or precision above ``MAX_BUILT_CHARS`` is
refused, and so is one taken from an argument (``%*d``, ``{:>{}}``), which the
check cannot see. Pure.
"""

from __future__ import annotations

from typing import Any

from collector.sql_string_sizes import MAX_BUILT_CHARS

__all__ = ["FORMAT_FUNCTIONS", "format_refusal"]

FORMAT_FUNCTIONS = frozenset({"printf", "format"})
_PRINTF_FLAGS = "-+ #0'"


def format_refusal(name: str, children: Any) -> str | None:
    """Why the call ``name(children...)`` is refused, or None when its format
    string is a literal whose widths and precisions are within the bound."""
    first = children[0] if isinstance(children, list) and children else None
    text = _literal_text(first)
    if text is None:
        return f"{name}() takes its format written out as a string literal here"
    problem = _printf_problem(text) if name == "printf" else _format_problem(text)
    return None if problem is None else f"{name}(): {problem}"


def _literal_text(argument: Any) -> str | None:
    literal = argument
    while isinstance(literal, dict) and literal.get("class") == "CAST":
        literal = literal.get("child")
    if not isinstance(literal, dict) or literal.get("class") != "CONSTANT":
        return None
    value = literal.get("value")
    text = value.get("value") if isinstance(value, dict) else None
    return text if isinstance(text, str) else None


def _too_wide(number: str) -> str | None:
    if len(number) > 12 or int(number) > MAX_BUILT_CHARS:
        return (
            f"a width or precision of {number} is more than the {MAX_BUILT_CHARS:,} characters "
            "one call may build here (DuckDB cannot interrupt one call at the time limit)"
        )
    return None


_DYNAMIC = "a width or precision taken from an argument is not allowed here; write it in"


def _printf_problem(text: str) -> str | None:
    """printf conversions: ``%[flags][width][.precision]type``; ``%%`` is a percent sign."""
    index, end = 0, len(text)
    while True:
        index = text.find("%", index)
        if index < 0:
            return None
        index += 1
        if index < end and text[index] == "%":
            index += 1
            continue
        while index < end and text[index] in _PRINTF_FLAGS:
            index += 1
        for part in ("width", "precision"):
            if part == "precision":
                if index >= end or text[index] != ".":
                    break
                index += 1
            if index < end and text[index] == "*":
                return _DYNAMIC
            start = index
            while index < end and text[index].isascii() and text[index].isdigit():
                index += 1
            problem = _too_wide(text[start:index]) if index > start else None
            if problem is not None:
                return problem


def _format_problem(text: str) -> str | None:
    """format (fmt) fields: ``{[arg][:spec]}``; ``{{`` and ``}}`` are braces. Every
    number in a spec is checked (the fill may be a digit, the width and precision
    are): none can be larger than a width may be."""
    index = 0
    while True:
        index = text.find("{", index)
        if index < 0:
            return None
        if text.startswith("{{", index):
            index += 2
            continue
        close = text.find("}", index + 1)
        if close < 0:
            return None  # DuckDB refuses the unbalanced brace itself
        field = text[index + 1 : close]
        if "{" in field:
            return _DYNAMIC
        spec = field.partition(":")[2]
        number = ""
        for char in spec + " ":
            if char.isascii() and char.isdigit():
                number += char
                continue
            problem = _too_wide(number) if number else None
            if problem is not None:
                return problem
            number = ""
        index = close + 1
