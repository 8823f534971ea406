"""Model-call messages holding an unpaired surrogate escape are read, stored and answered.

Found from outside: JSON text may write ``"\\ud800"`` (valid JSON, no character UTF-8 can
hold). A framework whose run reads its task and steps from messages (pydantic-ai here, as
captured) had five spans of an acknowledged request refused by the store ("surrogates
not allowed"): the run stayed ``running`` with half its steps. ``GET /spans`` of a model
call holding one answered 500 when it read the messages. The messages are now read with
each such escape as U+FFFD, the attribute's text keeping the escape as sent.
"""

from __future__ import annotations

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import CollectorHandle
from tests.frameworks.captured_runs import body_of, expected_of, send_capture
from tests.support import wait_until

MESSAGE_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "pydantic_ai.all_messages")


def _with_lone_surrogates() -> tuple[ExportTraceServiceRequest, list[tuple[str, str]]]:
    """The pydantic-ai capture with "Paris" written ``Par\\ud800is`` and "Fahrenheit"
    ``Fahr\\udc00enheit`` in every message attribute; the (trace, span) ids patched."""
    request = ExportTraceServiceRequest.FromString(body_of("pydantic_ai"))
    patched: list[tuple[str, str]] = []
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                for attribute in span.attributes:
                    text = attribute.value.string_value
                    if attribute.key in MESSAGE_KEYS and "Paris" in text:
                        attribute.value.string_value = text.replace(
                            "Paris", "Par\\ud800is"
                        ).replace("Fahrenheit", "Fahr\\udc00enheit")
                        patched.append((span.trace_id.hex(), span.span_id.hex()))
    return request, patched


def test_a_run_whose_messages_hold_lone_surrogates_is_stored_whole(
    collector: CollectorHandle,
) -> None:
    request, patched = _with_lone_surrogates()
    assert len(patched) >= 3
    send_capture(collector, request.SerializeToString())
    done = expected_of("pydantic_ai")["success"]
    wanted_task = "[pydantic_ai] What is the weather in Par\ufffdis, in Fahr\ufffdenheit?"

    def the_run() -> tuple[str, str, int] | None:
        rows = collector.query(
            "SELECT status, task, total_steps FROM agent_runs WHERE task LIKE '%Par%is%'"
        )
        return rows[0] if rows and rows[0][0] == "completed" else None

    status, task, steps = wait_until(the_run, timeout_s=30, what="the patched run, completed")
    assert task == wanted_task
    assert steps == done["model_calls"] + len(done["tools"])
    assert collector.query("SELECT count(*) FROM spans")[0][0] == sum(
        len(scope.spans) for r in request.resource_spans for scope in r.scope_spans
    )

    for trace_id, span_id in patched:
        response = httpx.get(f"{collector.api_url}/spans/{trace_id}/{span_id}", timeout=30)
        assert response.status_code == 200, response.text[:300]
        span = response.json()
        texts = [m.get("content") or "" for m in span["model_messages"]["input"]]
        if span["name"].startswith("chat "):
            assert any("Par\ufffdis" in str(t) for t in texts), texts
        sent = next(v for k, v in span["attributes"].items() if k in MESSAGE_KEYS and "Par" in v)
        assert "Par\\ud800is" in sent  # the attribute's text as sent
