"""OTLP conformance beyond tests/collector/ingest/test_bad_input.py: JSON int64 strings, unknown
fields, content types of every answer, size limits over gRPC, bombs with memory bounded."""

from __future__ import annotations

import copy
import gzip
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from bench.reliability.harness import EXPORT_METHOD, CollectorProcess, build_run_request, kv
from tests.collector.ingest.otlp import to_otlp_json
from tests.conftest import CollectorHandle, start_test_collector

TRACES = "/v1/traces"
logger = logging.getLogger(__name__)
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    """A collector whose request limit is 64 KiB."""
    path = tmp_path_factory.mktemp("conformance") / "c.duckdb"
    handle = start_test_collector(path, max_request_bytes=LIMIT)
    try:
        yield handle
    finally:
        handle.stop()


def _post_json(handle: CollectorHandle, document: Any, **headers: str) -> httpx.Response:
    return httpx.post(
        handle.http_endpoint + TRACES,
        content=json.dumps(document),
        headers={"content-type": "application/json", **headers},
    )


def _json_request(client: int, seq: int, steps: int = 1) -> tuple[Any, dict[str, Any]]:
    request = build_run_request(client, seq, steps)
    request.message.resource_spans[0].scope_spans[0].spans[1].attributes.append(
        kv("test.count", 42)
    )
    return request, to_otlp_json(request.message)


def test_json_int64_as_strings_and_as_numbers_decode_the_same(small: CollectorHandle) -> None:
    as_strings_request, as_strings = _json_request(60, 1)
    as_numbers_request, as_numbers = _json_request(60, 2)
    # MessageToDict writes int64 as strings (the OTLP/JSON form); make the other all numbers.
    for span in as_numbers["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        span["startTimeUnixNano"] = int(span["startTimeUnixNano"])
        span["endTimeUnixNano"] = int(span["endTimeUnixNano"])
        for attribute in span.get("attributes", []):
            if "intValue" in attribute["value"]:
                attribute["value"]["intValue"] = int(attribute["value"]["intValue"])
    strings_span = as_strings["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
    assert isinstance(strings_span["startTimeUnixNano"], str)
    for document in (as_strings, as_numbers):
        assert _post_json(small, document).status_code == 200
    for request in (as_strings_request, as_numbers_request):
        step = request.message.resource_spans[0].scope_spans[0].spans[1]
        rows = small.query(
            "SELECT start_ns, end_ns, json_extract(attributes, '$.\"test.count\"') FROM spans "
            "WHERE trace_id = ? AND span_id = ?",
            [request.trace_id, request.step_span_ids[0]],
        )
        assert rows == [(step.start_time_unix_nano, step.end_time_unix_nano, "42")]


def test_unknown_json_fields_are_ignored_at_every_level(small: CollectorHandle) -> None:
    request, document = _json_request(61, 1, steps=2)
    document["futureTopLevel"] = {"x": 1}
    resource_spans = document["resourceSpans"][0]
    resource_spans["futureResourceField"] = [1, 2]
    resource_spans["resource"]["futureField"] = "x"
    resource_spans["scopeSpans"][0]["futureScopeField"] = True
    span = resource_spans["scopeSpans"][0]["spans"][0]
    span["futureSpanField"] = {"nested": [{"deep": None}]}
    span["status"]["futureStatusField"] = 3
    span["attributes"].append({"key": "future.value", "value": {"futureValueKind": 1}})
    response = _post_json(small, document)
    assert response.status_code == 200, response.text
    assert int(response.json().get("partialSuccess", {}).get("rejectedSpans", 0)) == 0
    stored = small.query("SELECT count(*) FROM spans WHERE trace_id = ?", [request.trace_id])
    assert stored == [(3,)]


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "Application/JSON", "application/x-protobuf; proto=x"],
)
def test_content_type_parameters_and_case_are_accepted(
    small: CollectorHandle, content_type: str
) -> None:
    request = build_run_request(62, len(content_type), 1)
    body = request.json() if "json" in content_type.lower() else request.protobuf()
    response = httpx.post(
        small.http_endpoint + TRACES, content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(content_type.split(";")[0].lower())


@pytest.mark.parametrize(
    ("content_type", "gzipped"),
    [
        ("application/json", False),
        ("application/json", True),
        ("application/x-protobuf", False),
        ("application/x-protobuf", True),
    ],
)
def test_too_large_is_413_in_the_request_encoding(
    small: CollectorHandle, content_type: str, gzipped: bool
) -> None:
    request = build_run_request(63, 1, 2, payload_bytes=LIMIT * 2)
    body = request.json() if content_type == "application/json" else request.protobuf()
    headers = {"content-type": content_type}
    if gzipped:
        body = gzip.compress(body)
        headers["content-encoding"] = "gzip"
        assert len(body) < LIMIT
    response = httpx.post(small.http_endpoint + TRACES, content=body, headers=headers)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(content_type)


def test_unsupported_encoding_is_refused_in_the_request_encoding(small: CollectorHandle) -> None:
    response = httpx.post(
        small.http_endpoint + TRACES,
        content=b"xx",
        headers={"content-type": "application/json", "content-encoding": "br"},
    )
    assert response.status_code in (400, 415)
    assert response.headers["content-type"].startswith("application/json")
    assert "message" in response.json()


def _grpc_export(port: int, payload: bytes, compression: Any = None) -> grpc.StatusCode:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(EXPORT_METHOD)
        try:
            export(payload, timeout=30, compression=compression)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[attr-defined, no-any-return]
    return grpc.StatusCode.OK


def test_grpc_oversize_message_is_resource_exhausted(small: CollectorHandle) -> None:
    request = build_run_request(64, 1, 2, payload_bytes=LIMIT * 2)
    assert _grpc_export(small.grpc_port, request.protobuf()) is grpc.StatusCode.RESOURCE_EXHAUSTED
    gzipped = _grpc_export(small.grpc_port, request.protobuf(), grpc.Compression.Gzip)
    assert gzipped is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert small.query("SELECT count(*) FROM spans WHERE trace_id = ?", [request.trace_id]) == [
        (0,)
    ]
    # Just under the limit is fine.
    fits = build_run_request(64, 2, 2, payload_bytes=LIMIT // 4)
    assert _grpc_export(small.grpc_port, fits.protobuf()) is grpc.StatusCode.OK


def test_a_rejected_span_in_json_reports_partial_success_as_otlp_json(
    small: CollectorHandle,
) -> None:
    request, document = _json_request(65, 1, steps=2)
    bad = copy.deepcopy(document)
    bad["resourceSpans"][0]["scopeSpans"][0]["spans"][2]["spanId"] = "zz" * 8
    response = _post_json(small, bad)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    # proto3 JSON writes int64 as a string; OTLP/JSON readers accept both.
    assert int(partial["rejectedSpans"]) == 1
    assert small.query("SELECT count(*) FROM spans WHERE trace_id = ?", [request.trace_id]) == [
        (2,)
    ]


def test_compression_bombs_keep_memory_bounded(tmp_path: Path) -> None:
    # 64 MiB of inflated data behind ~64 KiB on the wire, over both receivers, against a
    # 1 MiB limit: refused, and the process must not have inflated it all.
    collector = CollectorProcess(
        tmp_path / "bomb.duckdb",
        log_dir=tmp_path / "logs",
        env={"AGENT_AUDIT_MAX_REQUEST_BYTES": str(1024 * 1024)},
    ).start()
    try:
        warm = build_run_request(66, 1, 2)
        assert _grpc_export(collector.grpc_port, warm.protobuf()) is grpc.StatusCode.OK
        # Acknowledged from the request journal: read it back so that its commit (the
        # first, which loads the write path) is part of the warm-up, not of the growth.
        assert httpx.get(f"{collector.api_url}/agent/runs/{warm.run_id}").status_code == 200
        baseline_kib = collector.vm_hwm_kib()
        huge = build_run_request(66, 2, 1, payload_bytes=64 * 1024 * 1024).protobuf()
        http_bomb = gzip.compress(huge, compresslevel=9)
        response = httpx.post(
            collector.http_endpoint + TRACES,
            content=http_bomb,
            headers={"content-type": "application/x-protobuf", "content-encoding": "gzip"},
            timeout=60,
        )
        assert response.status_code == 413
        code = _grpc_export(collector.grpc_port, huge, grpc.Compression.Gzip)
        assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
        grown_mib = (collector.vm_hwm_kib() - baseline_kib) / 1024
        assert collector.terminate() == 0
    finally:
        collector.kill()
    logger.info("two 64 MiB compression bombs refused; peak RSS grew %.1f MiB", grown_mib)
    assert grown_mib < 32, f"peak memory grew by {grown_mib:.0f} MiB for a refused bomb"
