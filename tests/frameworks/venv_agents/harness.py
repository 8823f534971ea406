"""What every agent script run in a framework's own virtualenv shares (see
tests/frameworks/venv_frameworks.py): the command line, the loopback-only guard, tracing
set up the way a user's agent does it (``instrumentation.configure``, or the framework's
own SDK, as the Traceloop SDK's ``Traceloop.init``), and the plan loop.

This file runs under the framework's venv python, so it imports only the standard library,
the OpenTelemetry packages and this repository's ``instrumentation`` package.

    <venv>/bin/python tests/frameworks/venv_agents/crewai_agent.py --endpoint URL \
        --protocol grpc --base-url http://127.0.0.1:PORT/v1 --plan plan.json --out out.json

The plan is ``[{"scenario": name, "tasks": [task, ...]}, ...]``; the output, for each
scenario in order, one ``{"answer": text | None, "error": text | None}`` per task.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace

from instrumentation import configure, instrument, shutdown

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
# A scenario runner: (scenario name, its tasks, the model server's base URL) -> outcomes.
Runner = Callable[[str, list[str], str], list[dict[str, Any]]]
# Tracing set up by the framework's own SDK: (collector endpoint, "grpc" or "http", service
# name) -> a flush returning whether every span was delivered.
Tracing = Callable[[str, str, str], Callable[[], bool]]


def _refuse_internet(event: str, args: tuple[object, ...]) -> None:
    """Frameworks phone home (telemetry, model price lists): fail loudly instead."""
    if event != "socket.connect":
        return
    address = args[1] if len(args) > 1 else None
    if isinstance(address, tuple) and address and address[0] not in _LOOPBACK:
        raise ConnectionRefusedError(f"tried to reach {address!r} off the loopback")


CLOCK_RESULT = "12:00 UTC"


def clock() -> str:
    """The time now."""
    return CLOCK_RESULT


@contextmanager
def outer_span() -> Iterator[None]:
    """The caller's own span around a run (a web request's): no run of its own."""
    with trace.get_tracer("tests.frameworks.caller").start_as_current_span("handle_request"):
        yield


def outcome(call: Callable[[], Any]) -> dict[str, Any]:
    """Run one agent call: its answer as text, or the error it raised."""
    try:
        return {"answer": None if (found := call()) is None else str(found), "error": None}
    except Exception as exc:  # the scenario reports it; the test checks it was expected
        return {"answer": None, "error": f"{type(exc).__name__}: {exc}"}


async def awaited_outcome(call: Awaitable[Any]) -> dict[str, Any]:
    """Await one agent call: its answer, or the error it raised."""
    try:
        return {"answer": await call, "error": None}
    except Exception as exc:  # the scenario reports it; the test checks it was expected
        return {"answer": None, "error": f"{type(exc).__name__}: {exc}"}


def _shutdown() -> bool:
    return shutdown(timeout_s=20)


def main(
    framework: str, instrumentation: str | None, run: Runner, tracing: Tracing | None = None
) -> int:
    """Parse the command line, set up tracing as the README says (``configure()``, then
    ``instrument(frameworks=[instrumentation])``; or ``tracing``, for an SDK that sets up
    its own exporter), play the plan, write the outcomes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    parser.add_argument("--base-url", required=True, help="the scripted LLM server")
    parser.add_argument("--plan", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sys.addaudithook(_refuse_internet)
    if tracing is not None:
        flush = tracing(args.endpoint, args.protocol, f"fw-{framework}")
    elif instrumentation is None:
        raise SystemExit("no instrumentation named, and no tracing set up")
    else:
        configure(
            endpoint=args.endpoint,
            protocol="grpc" if args.protocol == "grpc" else "http/protobuf",
            service_name=f"fw-{framework}",
            cancel_poll_s=None,
            schedule_delay_ms=200,
        )
        enabled = instrument(frameworks=[instrumentation])
        if enabled != [instrumentation]:
            raise SystemExit(f"could not instrument {instrumentation}: enabled {enabled}")
        flush = _shutdown
    with open(args.plan, encoding="utf-8") as plan_file:
        plan = json.load(plan_file)
    results: list[dict[str, Any]] = []
    try:
        for item in plan:
            outcomes = run(item["scenario"], list(item["tasks"]), args.base_url)
            results.append({"scenario": item["scenario"], "outcomes": outcomes})
    finally:
        flushed = flush()
    if not flushed:
        raise SystemExit("spans were not all delivered to the collector")
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(results, out)
    return 0
