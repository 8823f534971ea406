"""Fuzzing both receivers: random bytes, mutated protobuf, mutated OTLP/JSON.

Whatever arrives, the answer is an acknowledgement or a client error (never 5xx,
never gRPC INTERNAL/UNKNOWN), and every stored id is lowercase hex of the right
length and not all zeros.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.reliability.harness import EXPORT_METHOD, build_run_request
from tests.collector.ingest.otlp import to_otlp_json
from tests.conftest import CollectorHandle, start_test_collector

FUZZ = settings(
    max_examples=120,
    deadline=None,
    database=None,  # no .hypothesis directory in the tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
SPAN_ID = re.compile(r"^[0-9a-f]{16}$")
GRPC_OK_CODES = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
HTTP_OK_CODES = {200, 400, 413, 415}

SEED_REQUEST = build_run_request(70, 1, 3, payload_bytes=40)
SEED_PROTOBUF = SEED_REQUEST.protobuf()
SEED_JSON = to_otlp_json(SEED_REQUEST.message)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    handle = start_test_collector(
        tmp_path_factory.mktemp("fuzz") / "fuzz.duckdb", max_request_bytes=256 * 1024
    )
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def channel(target: CollectorHandle) -> Iterator[Any]:
    with grpc.insecure_channel(f"127.0.0.1:{target.grpc_port}") as chan:
        yield chan.unary_unary(EXPORT_METHOD)


@pytest.fixture(scope="module")
def http(target: CollectorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=target.http_endpoint, timeout=30) as client:
        yield client


def _send_grpc(export: Any, body: bytes) -> None:
    try:
        export(body, timeout=30)
    except grpc.RpcError as exc:
        assert exc.code() in GRPC_OK_CODES, (exc.code(), exc.details(), body[:200])


def _send_http(client: httpx.Client, body: bytes, content_type: str) -> None:
    response = client.post("/v1/traces", content=body, headers={"content-type": content_type})
    assert response.status_code in HTTP_OK_CODES, (response.status_code, response.text, body[:200])
    assert response.headers["content-type"].startswith(content_type)


@st.composite
def mutated_bytes(draw: st.DrawFn, seed: bytes) -> bytes:
    """Flip, insert, delete, duplicate or truncate parts of ``seed``."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "dup"]))
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x0A, 0x12, 0x22]))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[at:]
        else:
            end = min(len(data), at + draw(st.integers(1, 64)))
            data[at:at] = data[at:end]
    return bytes(data)


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "0" * 32, "0" * 16, "ZZ" * 8, "AB" * 16, "ab" * 8, "-1", "1e400"])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)


@st.composite
def mutated_json(draw: st.DrawFn) -> bytes:
    """The seed OTLP/JSON with random nodes replaced by random JSON values."""
    document = json.loads(json.dumps(SEED_JSON))
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in list(node):
                paths.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for index in range(len(node)):
                paths.append((node, index))
                walk(node[index])

    walk(document)
    for _ in range(draw(st.integers(1, 5))):
        parent, key = draw(st.sampled_from(paths))
        try:
            parent[key] = draw(JSON_VALUES)
        except (IndexError, KeyError, TypeError):
            continue
    return json.dumps(document).encode()


@FUZZ
@given(body=st.binary(max_size=2048))
def test_random_bytes(channel: Any, http: httpx.Client, body: bytes) -> None:
    _send_grpc(channel, body)
    _send_http(http, body, "application/x-protobuf")
    _send_http(http, body, "application/json")


@FUZZ
@given(body=mutated_bytes(SEED_PROTOBUF))
def test_mutated_protobuf(channel: Any, http: httpx.Client, body: bytes) -> None:
    _send_grpc(channel, body)
    _send_http(http, body, "application/x-protobuf")


@FUZZ
@given(body=mutated_json())
def test_mutated_json(http: httpx.Client, body: bytes) -> None:
    _send_http(http, body, "application/json")


def test_after_fuzzing_every_stored_id_is_valid(
    target: CollectorHandle, channel: Any, http: httpx.Client
) -> None:
    # Runs after the fuzz tests in this module (pytest keeps file order). Under
    # pytest-xdist they may have run in another process, against another collector:
    # then this one is fuzzed here first.
    spans = target.query("SELECT trace_id, span_id, parent_span_id FROM spans")
    if not spans:
        test_random_bytes(channel, http)
        test_mutated_protobuf(channel, http)
        test_mutated_json(http)
        spans = target.query("SELECT trace_id, span_id, parent_span_id FROM spans")
    assert spans, "the fuzzers should have stored some valid spans"
    for trace_id, span_id, parent in spans:
        assert TRACE_ID.match(trace_id) and trace_id != "0" * 32, trace_id
        assert SPAN_ID.match(span_id) and span_id != "0" * 16, span_id
        assert parent is None or (SPAN_ID.match(parent) and parent != "0" * 16), parent
    steps = target.query("SELECT trace_id, span_id, parent_span_id FROM agent_steps")
    runs = target.query("SELECT trace_id, span_id FROM agent_runs")
    for trace_id, span_id, *rest in [*steps, *runs]:
        assert TRACE_ID.match(trace_id) and SPAN_ID.match(span_id), (trace_id, span_id)
        parent = rest[0] if rest else None
        assert parent is None or SPAN_ID.match(parent), parent
    # And the collector still works normally.
    health = httpx.get(target.api_url + "/healthz").json()
    assert health["status"] == "ok"
