"""Pure helpers of the CLI: inert text, durations, --since forms."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

import pytest

from collector.cli.common import parse_when
from collector.cli.terminal import dumps_inert, format_duration, inert, one_line

NASTY = "a\x1b[2Jb\x07c\x9b31md\u202ee\x7ff\u2066g\th\ni"


def test_inert_shows_controls_as_text() -> None:
    assert inert(NASTY) == "a\\x1b[2Jb\\x07c\\x9b31md\\u202ee\\x7ff\\u2066g h\\x0ai"
    assert inert(NASTY, keep_newlines=True).splitlines()[1] == "i"
    assert inert("naïve ✓ 日本") == "naïve ✓ 日本"  # ordinary text untouched
    assert inert(None) == ""


def test_one_line_cuts_with_an_ellipsis() -> None:
    assert one_line("line one\nline two", 12) == "line one li…"
    assert one_line("abcdef", 4, ascii_only=True) == "a..."


def test_dumps_inert_is_valid_json_with_the_same_value() -> None:
    text = dumps_inert({"task": NASTY, "n": [1, None]})
    for raw in ("\x1b", "\x07", "\x9b", "\u202e", "\x7f", "\u2066"):
        assert raw not in text
    assert json.loads(text) == {"task": NASTY, "n": [1, None]}


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, ""), (0, "0ms"), (850.4, "850ms"), (12_340, "12.3s"), (245_000, "4m05s"),
     (3_725_000, "1h02m")],
)  # fmt: skip
def test_format_duration(ms: float | None, text: str) -> None:
    assert format_duration(ms) == text


def test_parse_when() -> None:
    now = datetime(2025, 1, 31, 15, 30, 0)
    assert parse_when("today", now=now) == "2025-01-31T00:00:00Z"
    assert parse_when("yesterday", now=now) == "2025-01-30T00:00:00Z"
    assert parse_when("2h", now=now) == "2025-01-31T13:30:00Z"
    assert parse_when("7d", now=now) == "2025-01-24T15:30:00Z"
    assert parse_when("2025-01-01T00:00:00+02:00", now=now) == "2025-01-01T00:00:00+02:00"
    with pytest.raises(argparse.ArgumentTypeError):
        parse_when("last tuesday", now=now)
