"""Hostile query parameters get a 400 or an answer, never a 500.

Found from outside: an offset past 2^63 overflowed DuckDB, and a ``q`` of a
few hundred characters became a run-id prefix regex that tantivy refused.
"""

from __future__ import annotations

import httpx
import pytest

from collector.api import MAX_OFFSET
from collector.api_filters import MAX_Q_CHARS
from tests.conftest import CollectorHandle


@pytest.mark.parametrize(
    "params",
    [
        {"offset": str(10**20)},
        {"offset": str(MAX_OFFSET + 1)},
        {"offset": "-1"},
        {"q": "a" * (MAX_Q_CHARS + 1)},
    ],
    ids=["offset past 2^64", "offset past the bound", "negative offset", "q too long"],
)
def test_out_of_range_parameters_are_a_400_naming_them(
    collector: CollectorHandle, params: dict[str, str]
) -> None:
    response = httpx.get(f"{collector.api_url}/agent/runs", params=params, timeout=30)
    assert response.status_code == 400, response.text
    assert next(iter(params)) in response.json()["detail"]


@pytest.mark.parametrize(
    "q",
    ["a" * 500, "a b " * 200, ".*+?()[]{}|^$\\" * 30, "ab" * (MAX_Q_CHARS // 2)],
    ids=["one long word", "many words", "regex syntax", "at the bound"],
)
def test_long_text_queries_are_answered(collector: CollectorHandle, q: str) -> None:
    response = httpx.get(f"{collector.api_url}/agent/runs", params={"q": q}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["runs"] == []


def test_an_offset_at_the_bound_is_answered(collector: CollectorHandle) -> None:
    response = httpx.get(
        f"{collector.api_url}/agent/runs", params={"offset": str(MAX_OFFSET)}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.json()["runs"] == []
