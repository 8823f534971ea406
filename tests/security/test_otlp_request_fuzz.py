"""Whole OTLP requests mutated at random, mixed with good ones, against a real collector.

Where tests/security/test_hostile_spans_mixed.py spoils values inside well-formed
spans, this spoils the requests themselves, over gRPC, HTTP protobuf and HTTP
JSON: protobuf cut at any byte or with bytes flipped, JSON cut short, any value
of a span's JSON replaced by one of another type (strings, numbers past int64,
NaN, negative times, nesting thousands deep, invalid UTF-8, lone surrogates,
keys written twice), a wrong or missing Content-Type, a wrong or unknown
Content-Encoding, and compressed bombs. After every mutant:

- the answer is OTLP's: a success (its ``partial_success`` counting the spans
  it dropped, with a message) or a 4xx / INVALID_ARGUMENT with a message;
  never a 5xx, never a gRPC INTERNAL or UNKNOWN;
- a mutated JSON span costs only itself: the good run in the same request is
  stored whole, and every span of the mutated one is stored or counted;
- a good request sent next is answered and its run readable within a deadline;
- what was stored before reads as before, through the REST API, the CLI and
  ``/sql``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import status_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.collector.ingest.otlp import to_otlp_json
from tests.conftest import CollectorHandle, start_test_collector
from tests.security.test_hostile_spans_mixed import good_run
from tests.security.test_trace_owned_ids import page, what_a_reader_sees
from tests.support import wait_until

REPO = Path(__file__).resolve().parents[2]
PROTOBUF, JSON = "application/x-protobuf", "application/json"
LIMIT = 4 << 20  # the collector's max_request_bytes here (after decompression)
SERVICE = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
DEADLINE_S = 30.0  # a good request's run readable after the mutant (a busy machine)


@dataclass
class Sent:
    """A request as it goes on the wire, and the good runs it carries."""

    protocol: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    good: dict[str, list[str]] = field(default_factory=dict)  # run id -> tool results
    hostile_trace: str | None = None  # the trace of the one mutated JSON span, if any
    what: str = ""


@dataclass
class Answer:
    ok: bool
    status: str  # "200", "400", ..., or the gRPC code's name
    rejected: int
    message: str


def _request(runs: int, hostile: bool = False) -> tuple[ExportTraceServiceRequest, Sent]:
    """Good runs in one resource; with ``hostile``, one more span in a resource of its own."""
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    sent = Sent("", b"")
    for _ in range(runs):
        run_id = str(uuid.uuid4())
        spans, _, results = good_run(os.urandom(16), run_id, 2)
        scope.spans.extend(spans)
        sent.good[run_id] = results
    if hostile:
        trace_id = os.urandom(16)
        resource = request.resource_spans.add()
        span = resource.scope_spans.add().spans.add()
        span.CopyFrom(good_run(trace_id, None, 0)[0][0])
        span.name = "mutated"
        sent.hostile_trace = trace_id.hex()
    return request, sent


def good_request(protocol: str) -> Sent:
    request, sent = _request(1)
    sent.protocol = protocol
    if protocol == "http-json":
        sent.body = json.dumps(to_otlp_json(request)).encode()
    else:
        sent.body = request.SerializeToString()
    return sent


def send(handle: CollectorHandle, sent: Sent) -> Answer:
    if sent.protocol == "grpc":
        with grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}") as channel:
            call = channel.unary_unary(
                SERVICE,
                request_serializer=None,
                response_deserializer=ExportTraceServiceResponse.FromString,
            )
            try:
                answer = call(sent.body, timeout=60)
            except grpc.RpcError as exc:
                code = exc.code()  # type: ignore[attr-defined]
                return Answer(False, code.name, 0, exc.details() or "")  # type: ignore[attr-defined]
        partial = answer.partial_success
        return Answer(True, "OK", partial.rejected_spans, partial.error_message)
    kind = JSON if sent.protocol == "http-json" else PROTOBUF
    headers = {"content-type": kind, **sent.headers}
    response = httpx.post(
        f"{handle.http_endpoint}/v1/traces", content=sent.body, headers=headers, timeout=60
    )
    status = str(response.status_code)
    answered_type = response.headers.get("content-type", "")
    if response.status_code == 200:
        if answered_type.startswith(JSON):
            partial = response.json().get("partialSuccess", {})
            return Answer(
                True, status, int(partial.get("rejectedSpans", 0)), partial.get("errorMessage", "")
            )
        assert answered_type.startswith(PROTOBUF), answered_type
        partial_pb = ExportTraceServiceResponse.FromString(response.content).partial_success
        return Answer(True, status, partial_pb.rejected_spans, partial_pb.error_message)
    if answered_type.startswith(PROTOBUF):
        message = status_pb2.Status.FromString(response.content).message
    else:
        body = response.json()
        message = str(body.get("message") or body.get("detail") or "")
    return Answer(False, status, 0, message)


def check_otlp_answer(sent: Sent, answer: Answer) -> None:
    """OTLP's answers only: success with counted rejects, or a client error with a message."""
    if answer.ok:
        assert answer.rejected >= 0
        assert bool(answer.message) >= bool(answer.rejected), (sent.what, answer)
        return
    if sent.protocol == "grpc":
        assert answer.status in {"INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"}, (sent.what, answer)
    else:
        assert answer.status in {"400", "413", "415"}, (sent.what, answer)
    assert answer.message, (sent.what, answer)


def stored_good(handle: CollectorHandle, sent: Sent) -> None:
    """Each good run of ``sent`` is readable with its steps within the deadline."""
    for run_id, results in sent.good.items():
        shown = wait_until(
            lambda run_id=run_id: (p := page(handle, run_id)) and p["total_steps"] == 2 and p,
            timeout_s=DEADLINE_S,
            what=f"good run {run_id} after {sent.what}",
        )
        assert [s["tool_result"] for s in shown["steps"]] == results, sent.what


# --- mutants ------------------------------------------------------------------------
def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _put(document: Any, path: tuple[Any, ...], value: Any) -> None:
    target = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


RAW = "@@raw-json@@"  # replaced, quoted, by text json.dumps cannot write
RAW_VALUES = [
    "NaN",
    "-Infinity",
    "1e999",
    "-" + "9" * 30,
    "9" * 5000,
    "[" * 5000 + "]" * 5000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    '"\\ud800"',
    '"\\udfff\\u0000"',
    '{"k": 1, "k": "twice"}',
    "\xff\xfe",  # written as raw bytes below: invalid UTF-8
]
wrong_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "zz", "-1", "18446744073709551616", "AAAA", "0" * 64]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from([RAW + str(n) for n in range(len(RAW_VALUES))]),
)


def json_mutant(request: ExportTraceServiceRequest, sent: Sent, data: st.DataObject) -> Sent:
    document = to_otlp_json(request)
    hostile = document["resourceSpans"][1]["scopeSpans"][0]["spans"][0]
    path = data.draw(st.sampled_from([p for p in _paths(hostile) if p]), label="path")
    value = data.draw(wrong_values, label="value")
    _put(hostile, path, value)
    body = json.dumps(document).encode()
    for index, raw in enumerate(RAW_VALUES):
        encoded = raw.encode("latin-1") if raw == "\xff\xfe" else raw.encode()
        body = body.replace(json.dumps(RAW + str(index)).encode(), encoded)
    sent.protocol, sent.body = "http-json", body
    sent.what = f"JSON span value at {path} = {value!r}"[:200]
    if "traceId" in path:
        sent.hostile_trace = None  # it may now be stored under another trace
    return sent


def bytes_mutant(request: ExportTraceServiceRequest, sent: Sent, data: st.DataObject) -> Sent:
    protocol = data.draw(st.sampled_from(["grpc", "http-protobuf", "http-json"]), label="protocol")
    body = (
        json.dumps(to_otlp_json(request)).encode()
        if protocol == "http-json"
        else request.SerializeToString()
    )
    how = data.draw(st.sampled_from(["cut", "flip"]), label="how")
    if how == "cut":
        at = data.draw(st.integers(min_value=0, max_value=len(body) - 1), label="cut at")
        body = body[:at]
        sent.what = f"{protocol} cut at {at} of {len(body)}"
    else:
        flips = data.draw(
            st.lists(
                st.tuples(st.integers(0, len(body) - 1), st.integers(1, 255)),
                min_size=1,
                max_size=8,
            ),
            label="flips",
        )
        mutable = bytearray(body)
        for at, mask in flips:
            mutable[at] ^= mask
        body = bytes(mutable)
        sent.what = f"{protocol} bytes flipped at {[a for a, _ in flips]}"
    sent.protocol, sent.body = protocol, body
    sent.good = {}  # spans in a damaged body may be lost with it: nothing is promised
    sent.hostile_trace = None
    return sent


def _bomb(kind: str) -> bytes:
    """64 MiB of zeros compressed (well past the limit, a few dozen KB on the wire)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31 if kind == "gzip" else 15)
    chunk = bytes(1 << 20)
    return b"".join(compressor.compress(chunk) for _ in range(64)) + compressor.flush()


BOMBS = {"gzip": _bomb("gzip"), "deflate": _bomb("deflate")}
HEADER_MUTANTS: list[tuple[str, dict[str, str]]] = [
    ("http-protobuf", {"content-type": "text/plain"}),
    ("http-protobuf", {"content-type": ""}),
    ("http-protobuf", {"content-type": JSON}),  # a protobuf body said to be JSON
    ("http-json", {"content-type": PROTOBUF}),  # a JSON body said to be protobuf
    ("http-json", {"content-type": "application/xml"}),
    ("http-json", {"content-type": "multipart/form-data; boundary=x"}),
    ("http-protobuf", {"content-encoding": "gzip"}),  # not compressed at all
    ("http-protobuf", {"content-encoding": "br"}),
    ("http-json", {"content-encoding": "zstd"}),
    ("http-json", {"content-encoding": "deflate"}),
    ("http-json", {"content-encoding": "gzip, gzip"}),
]


def header_mutant(data: st.DataObject) -> Sent:
    choice = data.draw(st.integers(0, len(HEADER_MUTANTS) + len(BOMBS) - 1), label="header")
    if choice >= len(HEADER_MUTANTS):
        kind = sorted(BOMBS)[choice - len(HEADER_MUTANTS)]
        sent = Sent("http-protobuf", BOMBS[kind], {"content-encoding": kind}, what=f"{kind} bomb")
        return sent
    protocol, headers = HEADER_MUTANTS[choice]
    sent = good_request(protocol)
    sent.headers = dict(headers)
    sent.good = {}  # refused whole: its run is sent again, well-formed, below
    sent.what = f"{protocol} with {headers}"
    return sent


# --- the test -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def handle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    collector = start_test_collector(
        tmp_path_factory.mktemp("fuzz") / "audit.duckdb", max_request_bytes=LIMIT
    )
    try:
        yield collector
    finally:
        collector.stop()


@pytest.fixture(scope="module")
def earlier(handle: CollectorHandle) -> tuple[str, dict[str, Any]]:
    """A run stored before any mutant, and what the REST API shows of it."""
    sent = good_request("http-protobuf")
    assert send(handle, sent).ok
    (run_id,) = sent.good
    stored_good(handle, sent)
    shown = page(handle, run_id)
    assert shown is not None
    return run_id, what_a_reader_sees(shown)


def readable_everywhere(handle: CollectorHandle, run_id: str, before: dict[str, Any]) -> None:
    """The run reads as before through the REST API, the CLI and /sql."""
    now = page(handle, run_id)
    assert now is not None and what_a_reader_sees(now) == before
    shown = subprocess.run(
        [sys.executable, "-m", "collector.cli", "show", run_id, "--api", handle.api_url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"},
    )
    assert shown.returncode == 0, shown.stderr
    assert "good task" in shown.stdout and "result 1" in shown.stdout, shown.stdout
    query = f"SELECT count(*) FROM agent_steps WHERE agent_run_id = '{run_id}'"

    def counted() -> Any:
        answer = httpx.post(f"{handle.api_url}/sql", json={"sql": query}, timeout=60)
        if answer.status_code == 503:  # the worker's copy is being refreshed: retry
            return None
        assert answer.status_code == 200, answer.text
        return answer.json()["rows"]

    assert wait_until(counted, timeout_s=120, interval_s=0.2, what="/sql") == [[2]]


def one_mutant(handle: CollectorHandle, data: st.DataObject) -> None:
    """Send one mutant, then a good request; check both answers and what is stored."""
    kind = data.draw(st.sampled_from(["json value", "bytes", "headers"]), label="kind")
    if kind == "headers":
        mutant = header_mutant(data)
    else:
        request, sent = _request(runs=data.draw(st.integers(1, 2)), hostile=kind == "json value")
        if kind == "json value":
            mutant = json_mutant(request, sent, data)
        else:
            mutant = bytes_mutant(request, sent, data)

    answer = send(handle, mutant)
    check_otlp_answer(mutant, answer)
    if mutant.good:
        # A mutated span among good ones costs only itself.
        assert answer.ok, (mutant.what, answer)
        stored_good(handle, mutant)
        if mutant.hostile_trace is not None:
            stored = handle.query(
                "SELECT count(*) FROM spans WHERE trace_id = ?", [mutant.hostile_trace]
            )[0][0]
            assert stored + answer.rejected == 1, (mutant.what, stored, answer)
    # The collector goes on: the next good request is answered and readable.
    protocol = data.draw(st.sampled_from(["grpc", "http-protobuf", "http-json"]), label="next")
    following = good_request(protocol)
    following.what = f"a good {protocol} request after {mutant.what}"
    assert send(handle, following) == Answer(True, "OK" if protocol == "grpc" else "200", 0, "")
    stored_good(handle, following)
    health = httpx.get(f"{handle.api_url}/healthz", timeout=30)
    assert health.status_code == 200, health.text


@pytest.mark.timeout(600)
def test_mutated_requests_cost_only_themselves(
    handle: CollectorHandle, earlier: tuple[str, dict[str, Any]]
) -> None:
    fuzz = settings(
        max_examples=25,
        deadline=None,
        database=None,  # no .hypothesis directory in the tree
        suppress_health_check=[HealthCheck.too_slow],
    )(given(data=st.data())(lambda data: one_mutant(handle, data)))
    fuzz()
    # Empty and stray bodies on every transport, after all that.
    for protocol in ("grpc", "http-protobuf", "http-json"):
        for body in (b"", b"\x00" * 7, BOMBS["gzip"][:100]):
            answer = send(handle, Sent(protocol, body, what=f"{protocol} {body[:8]!r}"))
            check_otlp_answer(Sent(protocol, body), answer)
    run_id, before = earlier
    readable_everywhere(handle, run_id, before)
    # Whatever the mutants got stored reads back whole: every row of every table
    # through /sql, every run through the REST API and the CLI.
    for table in ("spans", "agent_runs", "agent_steps"):
        query = f"SELECT * FROM {table}"

        def rows(query: str = query) -> Any:
            answer = httpx.post(f"{handle.api_url}/sql", json={"sql": query}, timeout=60)
            if answer.status_code == 503:
                return None
            assert answer.status_code == 200, (query, answer.text[:300])
            return answer.json()

        body = wait_until(rows, timeout_s=120, interval_s=0.2, what=query)
        assert body["row_count"] == handle.query(f"SELECT count(*) FROM {table}")[0][0]
    listed = httpx.get(f"{handle.api_url}/agent/runs", params={"limit": 1000}, timeout=60)
    assert listed.status_code == 200, listed.text[:300]
    for run in listed.json()["runs"]:
        assert page(handle, run["id"]) is not None, run["id"]
    runs = subprocess.run(
        [sys.executable, "-m", "collector.cli", "runs", "--limit", "1000", "--api", handle.api_url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"},
    )
    assert runs.returncode == 0 and run_id[:8] in runs.stdout, runs.stderr
    verdict = httpx.get(f"{handle.api_url}/verify", timeout=120).json()
    assert verdict["ok"], verdict.get("problem")


def test_a_compressed_bomb_is_refused_as_too_large(handle: CollectorHandle) -> None:
    for kind, bomb in BOMBS.items():
        answer = send(
            handle, Sent("http-protobuf", bomb, {"content-encoding": kind}, what=f"{kind} bomb")
        )
        assert answer.status == "413" and "larger than" in answer.message, answer
    # gRPC's own compression: 64 MiB of zeros, gzip-compressed by the channel.
    options = [("grpc.max_send_message_length", 128 << 20)]
    with grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}", options=options) as channel:
        call = channel.unary_unary(SERVICE, request_serializer=None)
        with pytest.raises(grpc.RpcError) as refused:
            call(bytes(64 << 20), timeout=60, compression=grpc.Compression.Gzip)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    following = good_request("grpc")
    assert send(handle, following).ok
    stored_good(handle, following)
