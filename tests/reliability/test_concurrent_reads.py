"""Reads during ingest change nothing the writer derives.

The collector's writer thread derives runs and steps with the framework rules while its
API threads run parts of the same code on stored spans (a span's model messages, read
from its reprs and raw requests, for ``GET /spans/...``). Process-wide state shared
between them (CPython 3.11's AST conversion was one: collector/python_literals.py) made
a span derived during a read lose what it told. Here one collector ingests captured
framework traces while several threads read the same traces over HTTP until the ingest
is applied, and a second collector ingests them with no reads: every derived run and
step column must be equal, and no span may be stored raw only.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import start_test_collector
from tests.derived_rows import derived_rows
from tests.frameworks.captured_runs import body_of
from tests.span_items import SpanItem, renamed, request_of, span_items, trace_ids
from tests.support import wait_until
from tests.thread_switches import threads_switch_often

# Traces whose derivation and reading go through reprs and message transcripts (Haystack's
# ChatMessage reprs, LiteLLM's raw requests, the GenAI message attributes of the others).
TRACES = (
    "litellm_both",
    "haystack",
    "edges_haystack",
    "langgraph",
    "openai_agents",
    "pydantic_ai",
    "shapes_smolagents",
)
ROUNDS = 4  # fresh copies of every trace, so that later rounds are derived during reads
READERS = 4
READS_PER_READER = 5_000  # a bound; the readers stop once the ingest is applied
APPLIED_TIMEOUT_S = 120.0  # a loaded machine's writer can be far behind
_UNMAPPED = "is stored raw only"


def _requests() -> list[list[SpanItem]]:
    """Every round's copy of every trace, one request each, in sending order."""
    bodies = {name: span_items(body_of(name)) for name in TRACES}
    return [
        renamed(bodies[name], f"concurrent-{round_}-{name}")
        for round_ in range(ROUNDS)
        for name in TRACES
    ]


@dataclass
class _Sent:
    """The spans sent so far (appended by the sender, read by the readers)."""

    spans: list[tuple[str, str]] = field(default_factory=list)
    repr_spans: list[tuple[str, str]] = field(default_factory=list)  # values in Python reprs
    done: threading.Event = field(default_factory=threading.Event)

    def add(self, items: list[SpanItem]) -> None:
        for _, _, span in items:
            ids = (span.trace_id.hex(), span.span_id.hex())
            self.spans.append(ids)
            if any(_is_repr(a.value.string_value) for a in span.attributes):
                self.repr_spans.append(ids)


def _is_repr(text: str) -> bool:
    """Whether ``text`` reads as a Python repr: a dict with quoted keys, or an object's
    constructor (``ChatMessage(...)``), alone or in lists."""
    return _REPR.match(text) is not None


_REPR = re.compile(r"\s*(\[\s*)*(\{'|[A-Z]\w*\()")


@dataclass
class _Reader:
    """One API client reading the sent traces' spans, runs and stats until told to stop."""

    endpoint: str
    sent: _Sent
    reads: int = 0
    errors: list[str] = field(default_factory=list)

    def run(self, first: int) -> None:
        with httpx.Client(base_url=self.endpoint, timeout=30) as client:
            turn = first
            while not self.sent.done.is_set() and self.reads < READS_PER_READER:
                self._read_once(client, turn)
                turn += 1

    def _read_once(self, client: httpx.Client, turn: int) -> None:
        # Most reads are of spans holding reprs, whose messages the API reads as Python
        # literals while the writer reads other reprs; the rest are runs and stats.
        reprs, spans = self.sent.repr_spans[:], self.sent.spans[:]  # only ever appended to
        kind = turn % 8
        try:
            if kind < 5 and reprs:
                trace_id, span_id = reprs[turn % len(reprs)]
                self._expect(client.get(f"/spans/{trace_id}/{span_id}"), 200, 404)
            elif kind == 5 and spans:
                trace_id, span_id = spans[turn % len(spans)]
                self._expect(client.get(f"/spans/{trace_id}/{span_id}"), 200, 404)
            elif kind == 6:
                page = self._expect(client.get("/agent/runs", params={"limit": 50}), 200)
                runs = page.json()["runs"] if page is not None else []
                if runs:
                    run_id = runs[turn % len(runs)]["id"]
                    self._expect(client.get(f"/agent/runs/{run_id}"), 200, 404)
            elif kind == 7:
                self._expect(client.get("/agent/runs/stats"), 200)
        except httpx.HTTPError as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _expect(self, response: httpx.Response, *statuses: int) -> httpx.Response | None:
        self.reads += 1
        if response.status_code not in statuses:
            self.errors.append(f"{response.request.url.path}: {response.status_code}")
            return None
        return response


def _send(client: httpx.Client, items: list[SpanItem]) -> None:
    response = client.post(
        "/v1/traces",
        content=request_of(items).SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def collections_let_threads_switch() -> Iterator[None]:
    """Often enough to meet a collision within a few seconds."""
    with threads_switch_often(100, switch_interval_s=1e-4):
        yield


@pytest.mark.usefixtures("collections_let_threads_switch")
def test_reads_during_ingest_change_no_derived_run_or_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    requests = _requests()
    traces = sorted({t for items in requests for t in trace_ids(items)})
    read = start_test_collector(tmp_path / "read.duckdb")
    quiet = start_test_collector(tmp_path / "quiet.duckdb")
    try:
        sent = _Sent()
        readers = [_Reader(read.http_endpoint, sent) for _ in range(READERS)]
        threads = [
            threading.Thread(target=reader.run, args=(n,), name=f"reader-{n}", daemon=True)
            for n, reader in enumerate(readers)
        ]
        with (
            caplog.at_level(logging.WARNING),
            httpx.Client(base_url=read.http_endpoint, timeout=30) as client,
        ):
            for thread in threads:
                thread.start()
            try:
                for items in requests:
                    _send(client, items)
                    sent.add(items)
                wait_until(
                    read.store.await_applied, timeout_s=APPLIED_TIMEOUT_S, what="ingest applied"
                )
            finally:
                sent.done.set()
                for thread in threads:
                    thread.join(timeout=60)
            unmapped = [r.getMessage() for r in caplog.records if _UNMAPPED in r.getMessage()]
        assert not any(thread.is_alive() for thread in threads), "a reader did not stop"

        with httpx.Client(base_url=quiet.http_endpoint, timeout=30) as client:
            for items in requests:
                _send(client, items)
        expected = derived_rows(quiet, traces, APPLIED_TIMEOUT_S)
        assert expected[0] and expected[1], "the traces made no runs or steps"
        got = derived_rows(read, traces, APPLIED_TIMEOUT_S)
        assert got[0] == expected[0]
        assert got[1] == expected[1]
        assert unmapped == []
        # The reads themselves answered (a read that failed the same way is an error).
        assert [e for reader in readers for e in reader.errors] == []
        assert sum(reader.reads for reader in readers) >= READERS, "the readers read nothing"
    finally:
        read.stop()
        quiet.stop()
