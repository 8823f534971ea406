"""Hostile values: stored intact (or truncated with the flag), harmless to everything else."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.reliability.harness import REPO, HttpSender, RunRequest, build_run_request, kv
from instrumentation import attributes as A
from tests.conftest import CollectorHandle, start_test_collector

MAX_ATTRIBUTE_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def collector_mod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    handle = start_test_collector(
        tmp_path_factory.mktemp("hostile") / "h.duckdb", max_attribute_bytes=MAX_ATTRIBUTE_BYTES
    )
    try:
        yield handle
    finally:
        handle.stop()


def _step(request: RunRequest) -> Span:
    return request.message.resource_spans[0].scope_spans[0].spans[1]


def _set_attribute(span: Span, key: str, value: Any) -> None:
    for index, attribute in enumerate(span.attributes):
        if attribute.key == key:
            del span.attributes[index]
            break
    span.attributes.append(kv(key, value))


def _send(handle: CollectorHandle, request: RunRequest, content_type: str) -> httpx.Response:
    body = request.json() if content_type == "application/json" else request.protobuf()
    return httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=body,
        headers={"content-type": content_type},
        timeout=60,
    )


def _api_step(handle: CollectorHandle, request: RunRequest) -> dict[str, Any]:
    response = httpx.get(f"{handle.api_url}/agent/runs/{request.run_id}", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    steps = response.json()["steps"]
    assert len(steps) == len(request.step_span_ids)
    return steps[0]  # type: ignore[no-any-return]


HOSTILE_TEXT = {
    "nul": "before\x00after\x00",
    "ansi": "\x1b[31mRED\x1b[0m \x1b]0;window title\x07 \x1b[2J\x1b[H cleared",
    "html": '<script>alert("x")</script><img src=x onerror=alert(1)><a href="javascript:1">a</a>',
    "markdown": "# Title\n\n[click](javascript:alert(1)) ![img](http://evil.example/x.png)\n| a |",
    "bidi": "file\u202egnp.exe \u200b\ufeff zero-width",
    "surrogate-free-emoji": "\U0001f525 \u00e9\u0301 \u4e2d\u6587",
    "control": "".join(chr(c) for c in range(1, 32)),
}


@pytest.mark.parametrize("content_type", ["application/x-protobuf", "application/json"])
@pytest.mark.parametrize("name", sorted(HOSTILE_TEXT))
def test_hostile_text_is_stored_exactly_and_served_as_json(
    collector_mod: CollectorHandle, name: str, content_type: str
) -> None:
    text = HOSTILE_TEXT[name]
    seq = sorted(HOSTILE_TEXT).index(name) * 2 + (content_type == "application/json")
    request = build_run_request(80, seq, 1)
    step = _step(request)
    _set_attribute(step, A.GEN_AI_TOOL_CALL_RESULT, text)
    _set_attribute(step, "hostile.value", text)
    step.name = f"execute_tool {text}"
    step.status.message = text
    response = _send(collector_mod, request, content_type)
    assert response.status_code == 200, response.text
    api = _api_step(collector_mod, request)
    assert api["tool_result"] == text
    stored = collector_mod.query(
        "SELECT name, status_message, attributes FROM spans WHERE span_id = ?",
        [request.step_span_ids[0]],
    )
    assert stored[0][0] == f"execute_tool {text}"
    assert stored[0][1] == text
    assert json.loads(stored[0][2])["hostile.value"] == text


def test_invalid_utf8_in_a_protobuf_string_is_never_a_5xx(collector_mod: CollectorHandle) -> None:
    request = build_run_request(81, 1, 1)
    marker = "MARKER-FOR-INVALID-UTF8"
    _set_attribute(_step(request), "hostile.value", marker)
    body = request.protobuf().replace(marker.encode(), b"\xff\xfe\xc3\x28" + b"x" * 19)
    assert len(body) == len(request.protobuf())
    response = httpx.post(
        collector_mod.http_endpoint + "/v1/traces",
        content=body,
        headers={"content-type": "application/x-protobuf"},
    )
    # proto3 strings must be UTF-8: refusing the request is right, storing mojibake is too,
    # a 5xx (the exporter would retry it forever) is not.
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert collector_mod.query(
            "SELECT count(*) FROM spans WHERE trace_id = ?", [request.trace_id]
        ) == [(2,)]


def test_a_megabyte_attribute_is_truncated_with_the_flag(collector_mod: CollectorHandle) -> None:
    request = build_run_request(82, 1, 1)
    huge = ("0123456789abcdef" * 65536)[: 1024 * 1024 - 3] + "END"
    _set_attribute(_step(request), A.GEN_AI_TOOL_CALL_RESULT, huge)
    response = _send(collector_mod, request, "application/x-protobuf")
    assert response.status_code == 200, response.text
    (attributes_json,) = collector_mod.query(
        "SELECT attributes FROM spans WHERE span_id = ?", [request.step_span_ids[0]]
    )[0]
    attributes = json.loads(attributes_json)
    kept = attributes[A.GEN_AI_TOOL_CALL_RESULT]
    assert len(kept.encode()) <= MAX_ATTRIBUTE_BYTES
    assert kept.startswith(huge[:1000])  # a preview
    assert "END" not in kept[-100:]
    # The flag: the original length and the sha256 of the whole, next to the value.
    flag_text = json.dumps({k: v for k, v in attributes.items() if k != A.GEN_AI_TOOL_CALL_RESULT})
    assert hashlib.sha256(huge.encode()).hexdigest() in flag_text + kept
    assert str(len(huge.encode())) in flag_text + kept
    api = _api_step(collector_mod, request)
    assert len(api["tool_result"].encode()) <= MAX_ATTRIBUTE_BYTES


def test_deeply_nested_tool_arguments_do_not_poison_the_batch(
    collector_mod: CollectorHandle,
) -> None:
    # 100k levels of nesting: json.loads raises RecursionError. The span must still be
    # stored (arguments kept as text or truncated) and the request answered 200, not a
    # 5xx that the exporter would retry forever.
    request = build_run_request(83, 1, 1)
    nested = "[" * 100_000 + "]" * 100_000
    _set_attribute(_step(request), A.GEN_AI_TOOL_CALL_ARGUMENTS, nested)
    neighbour = build_run_request(83, 2, 1)
    response = _send(collector_mod, request, "application/x-protobuf")
    assert response.status_code == 200, response.text
    assert collector_mod.query(
        "SELECT count(*) FROM agent_steps WHERE agent_run_id = ?", [request.run_id]
    ) == [(1,)]
    assert _send(collector_mod, neighbour, "application/x-protobuf").status_code == 200
    assert collector_mod.query(
        "SELECT status FROM agent_runs WHERE id = ?", [neighbour.run_id]
    ) == [("completed",)]


def test_hostile_values_in_ids_and_resource_do_not_reach_the_id_columns(
    collector_mod: CollectorHandle,
) -> None:
    request = build_run_request(84, 1, 1)
    run_span = request.message.resource_spans[0].scope_spans[0].spans[0]
    _set_attribute(run_span, A.RUN_ID, "run-84-1")
    request.message.resource_spans[0].resource.attributes.append(
        kv("service.name", "svc'); DROP TABLE spans; --")
    )
    response = _send(collector_mod, request, "application/x-protobuf")
    assert response.status_code == 200
    assert (
        collector_mod.query("SELECT count(*) FROM spans WHERE trace_id = ?", [request.trace_id])[0][
            0
        ]
        == 2
    )


def test_many_hostile_requests_leave_the_collector_healthy(collector_mod: CollectorHandle) -> None:
    sender = HttpSender(collector_mod.http_endpoint)
    try:
        outcomes = [sender.send(build_run_request(85, seq, 2).protobuf()).kind for seq in range(10)]
    finally:
        sender.close()
    assert outcomes == ["ok"] * 10


_NEVER_ON_A_TERMINAL = ("\x1b", "\x07", "\x9b", "\x00", "\u202e", "\x08")


def test_the_cli_prints_hostile_values_inert(collector_mod: CollectorHandle) -> None:
    request = build_run_request(86, 1, 1)
    hostile = HOSTILE_TEXT["ansi"] + HOSTILE_TEXT["bidi"] + "\x9b31m \x08\x08 \x00"
    run_span = request.message.resource_spans[0].scope_spans[0].spans[0]
    _set_attribute(run_span, A.RUN_TASK, f"task {hostile}")
    _set_attribute(_step(request), A.GEN_AI_TOOL_CALL_RESULT, hostile)
    assert _send(collector_mod, request, "application/x-protobuf").status_code == 200
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    for command in (["show", request.run_id, "--full"], ["runs", "-q", "run-86"]):
        done = subprocess.run(
            [sys.executable, "-m", "collector.cli", *command, "--api", collector_mod.api_url],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        shown = [ch for ch in _NEVER_ON_A_TERMINAL if ch in done.stdout + done.stderr]
        assert shown == [], (command, shown)
        assert "RED" in done.stdout  # the text is shown, only made inert
