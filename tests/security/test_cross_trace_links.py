"""A span's parent is looked up in its own trace; a scoped id belongs to the trace it names.

Found from outside: span ids are unique only within a trace, but the parents and run
spans already stored were looked up by span id alone. When a request (or a group
commit of several senders' requests) held spans of two traces that both needed their
stored parents, the two traces' parents were read into one map: a span whose parent
id was a stored span of the other trace was placed under that trace's run (then
given a run id that names no run, so its step was shown nowhere), a pending copy in
one trace named and closed another trace's stand-in run, and ``verify``, which
derives each request again, could disagree with what was stored.

And the ids the trace-owned scheme gives (``<id>@<trace id>``) could be taken in
advance: a sender naming its run ``R@<T>`` before trace T re-used ``R`` had T's
run written into its row. An id of that form now belongs to the trace it names
(collector/trace_owned_ids.py): anyone else sending it gets ``R@<T>@<own trace>``.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.trace_owned_ids import trace_scoped_id
from instrumentation import attributes as A
from tests.conftest import CollectorHandle
from tests.security.test_trace_owned_ids import page, send
from tests.support import wait_until

PROTOCOLS = ("grpc", "http-protobuf", "http-json")
_T0 = 1_700_000_000_000_000_000


def _hex(size: int) -> str:
    return os.urandom(size).hex()


def span(
    trace_id: str,
    span_id: str,
    parent: str | None,
    name: str,
    attributes: dict[str, Any],
    *,
    start_s: float = 1.0,
    length_s: float = 1.0,
) -> Span:
    """One OTLP span with the given ids (hex) and string, bool or int attributes."""
    out = Span(
        trace_id=bytes.fromhex(trace_id),
        span_id=bytes.fromhex(span_id),
        name=name,
        start_time_unix_nano=_T0 + int(start_s * 1e9),
        end_time_unix_nano=_T0 + int((start_s + length_s) * 1e9),
    )
    if parent:
        out.parent_span_id = bytes.fromhex(parent)
    for key, value in attributes.items():
        attribute = out.attributes.add()
        attribute.key = key
        if isinstance(value, bool):
            attribute.value.bool_value = value
        elif isinstance(value, int):
            attribute.value.int_value = value
        else:
            attribute.value.string_value = value
    return out


def request(*spans: Span) -> ExportTraceServiceRequest:
    out = ExportTraceServiceRequest()
    resource = out.resource_spans.add()
    service = resource.resource.attributes.add()
    service.key, service.value.string_value = "service.name", "cross-trace"
    resource.scope_spans.add().spans.extend(spans)
    return out


def run_span(trace_id: str, span_id: str, task: str, run_id: str | None) -> Span:
    attributes: dict[str, Any] = {
        A.GEN_AI_OPERATION_NAME: "invoke_agent",
        A.GEN_AI_AGENT_NAME: "ops",
        A.RUN_TASK: task,
    }
    if run_id is not None:
        attributes[A.RUN_ID] = run_id
    return span(trace_id, span_id, None, "invoke_agent ops", attributes, start_s=0, length_s=60)


def tool_span(
    trace_id: str, span_id: str, parent: str | None, result: str, start_s: float = 1.0
) -> Span:
    return span(
        trace_id,
        span_id,
        parent,
        "execute_tool probe",
        {
            A.GEN_AI_OPERATION_NAME: "execute_tool",
            A.GEN_AI_TOOL_NAME: "probe",
            A.GEN_AI_TOOL_CALL_RESULT: result,
        },
        start_s=start_s,
    )


def steps_of(handle: CollectorHandle, trace_id: str) -> list[tuple[Any, ...]]:
    """(step id, its run id, that run's trace or None when no such run) of a trace's steps."""
    return handle.query(
        "SELECT s.id, s.agent_run_id, r.trace_id FROM agent_steps s "
        "LEFT JOIN agent_runs r ON r.id = s.agent_run_id WHERE s.trace_id = ? ORDER BY s.id",
        [trace_id],
    )


def verified(handle: CollectorHandle) -> None:
    verdict = httpx.get(f"{handle.api_url}/verify", timeout=60).json()
    assert verdict["ok"], verdict["problem"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("run_kind", ["agent_run.id", "span id"])
def test_a_parent_id_of_another_traces_stored_span_is_not_followed(
    module_collector: CollectorHandle, protocol: str, run_kind: str
) -> None:
    """Trace B's step names, as its parent, the id of trace A's stored step, while A's
    next step arrives in the same request (or the same group commit): B's step gets a
    run of its own trace, A's run gets only its own steps."""
    trace_a, trace_b, run_span_id, first_step = _hex(16), _hex(16), _hex(8), _hex(8)
    run_id = str(uuid.uuid4()) if run_kind == "agent_run.id" else None
    send(
        module_collector,
        protocol,
        request(
            run_span(trace_a, run_span_id, "victim", run_id),
            tool_span(trace_a, first_step, run_span_id, "A's first"),
        ),
    )
    victim = run_id or run_span_id
    assert wait_until(lambda: (p := page(module_collector, victim)) and p["total_steps"] == 1)

    intruder = _hex(8)
    send(
        module_collector,
        protocol,
        request(
            tool_span(trace_a, _hex(8), run_span_id, "A's second", start_s=2),
            tool_span(trace_b, intruder, first_step, "B's own"),
        ),
    )
    assert wait_until(lambda: (p := page(module_collector, victim)) and p["total_steps"] == 2)
    shown = page(module_collector, victim)
    assert shown is not None
    assert [s["tool_result"] for s in shown["steps"]] == ["A's first", "A's second"]
    # B's step is shown, under a run (a stand-in for its missing parent) of its own trace.
    placed = wait_until(
        lambda: (rows := steps_of(module_collector, trace_b)) and rows[0][2] and rows
    )
    assert placed == [(intruder, placed[0][1], trace_b)], placed
    assert page(module_collector, placed[0][1]) is not None
    verified(module_collector)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_pending_copy_speaks_only_for_its_own_traces_stand_in(
    module_collector: CollectorHandle, protocol: str
) -> None:
    """Trace A's steps wait under a stand-in for their missing parent X. A pending copy
    of X sent in trace B (with an agent name and "open at exit") must not name or
    close A's stand-in, also when A and B both have stand-ins to settle in the same
    request (or group commit)."""
    trace_a, trace_b, missing = _hex(16), _hex(16), _hex(8)
    send(module_collector, protocol, request(tool_span(trace_a, _hex(8), missing, "A's first")))
    assert wait_until(lambda: page(module_collector, missing))

    copy = span(
        trace_b,
        _hex(8),
        missing,
        "invoke_agent EVIL",
        {
            A.PENDING: True,
            A.GEN_AI_AGENT_NAME: "EVIL",
            A.PENDING_OPEN_AT_EXIT: True,
        },
        length_s=0,
    )
    send(
        module_collector,
        protocol,
        request(
            tool_span(trace_a, (other := _hex(8)), _hex(8), "A's other", start_s=2),
            tool_span(trace_b, _hex(8), _hex(8), "B's own"),
            copy,
        ),
    )

    def both_of_a_placed() -> bool:
        rows = steps_of(module_collector, trace_a)
        return len(rows) == 2 and all(row[2] == trace_a for row in rows)

    assert wait_until(both_of_a_placed)
    assert other in {row[0] for row in steps_of(module_collector, trace_a)}
    stand_in = page(module_collector, missing)
    assert stand_in is not None and stand_in["total_steps"] == 1
    assert stand_in["trace_id"] == trace_a
    assert stand_in["agent_name"] != "EVIL"
    assert stand_in["status"] == "running"
    verified(module_collector)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("forger_first", [True, False], ids=["forger first", "forger later"])
@pytest.mark.parametrize("where", ["run span", "steps only"])
def test_a_scoped_id_cannot_be_taken_by_another_trace(
    module_collector: CollectorHandle, protocol: str, forger_first: bool, where: str
) -> None:
    """Trace V re-uses run id R of trace O, so its run is ``R@V``. A third trace F
    naming its run (or only its steps' run) ``R@V`` gets ``R@V@F``, whichever comes
    first; V's run shows V's task and steps only."""
    owner, victim, forger = _hex(16), _hex(16), _hex(16)
    run_id = str(uuid.uuid4())
    send(
        module_collector,
        protocol,
        request(
            run_span(owner, (o := _hex(8)), "owner", run_id), tool_span(owner, _hex(8), o, "O")
        ),
    )
    assert wait_until(lambda: (p := page(module_collector, run_id)) and p["total_steps"] == 1)
    taken = trace_scoped_id(run_id, victim)

    def forge() -> None:
        steps = [
            span(
                forger,
                _hex(8),
                None,
                "execute_tool rm",
                {
                    A.GEN_AI_OPERATION_NAME: "execute_tool",
                    A.GEN_AI_TOOL_NAME: "rm",
                    A.GEN_AI_TOOL_CALL_RESULT: "FORGED",
                    A.RUN_ID: taken,
                },
            )
        ]
        if where == "run span":
            steps.append(run_span(forger, _hex(8), "FORGED", taken))
        send(module_collector, protocol, request(*steps))

    def victim_sends() -> None:
        v = _hex(8)
        send(
            module_collector,
            protocol,
            request(
                run_span(victim, v, "victim's own", run_id), tool_span(victim, _hex(8), v, "V")
            ),
        )

    for step in (forge, victim_sends) if forger_first else (victim_sends, forge):
        step()
    shown = wait_until(
        lambda: (p := page(module_collector, taken)) and p["total_steps"] == 1 and p["task"] and p
    )
    assert shown is not None
    assert (shown["task"], shown["trace_id"]) == ("victim's own", victim)
    assert [(s["tool_result"], s["trace_id"]) for s in shown["steps"]] == [("V", victim)]
    forged = trace_scoped_id(taken, forger)
    assert wait_until(lambda: (rows := steps_of(module_collector, forger)) and rows[0][1] == forged)
    if where == "run span":
        own = page(module_collector, forged)
        assert own is not None and (own["task"], own["trace_id"]) == ("FORGED", forger)
    # The id's first owner reads as before.
    first = page(module_collector, run_id)
    assert first is not None and (first["task"], first["trace_id"]) == ("owner", owner)
    assert [s["tool_result"] for s in first["steps"]] == ["O"]
    verified(module_collector)
