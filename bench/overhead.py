"""Cost per step span: agent-audit's ``run.step()`` against the bare OpenTelemetry SDK.

Both sides run in this process over an exporter that discards, with a 500 ms
schedule delay: the bare SDK with its ``BatchSpanProcessor``, agent-audit with
the :class:`~instrumentation.batching.BurstSafeSpanProcessor` that
``configure()`` installs. What is measured is the cost on the agent's thread.
Each span carries the same attributes: run id, action type, operation name,
tool name, JSON-encoded arguments and a ~200-byte result; the bare side encodes
the arguments with ``json.dumps`` as hand-written instrumentation would.

Three variants are timed, interleaved over several rounds; the medians of the
wall time, of the CPU time of the agent's thread, and of the CPU time of the
whole process (which includes the batch thread's export work) are reported,
CPU figures being the ones a busy machine does not distort:

- ``sdk``: ``tracer.start_as_current_span(...)`` + ``set_attribute`` on the result;
- ``agent_audit``: ``run.step(...)`` + ``set_result`` with the pending-span
  processor that ``configure()`` installs (each step also exports its pending copy);
- ``agent_audit_no_pending``: the same API on a provider without that processor.

Usage: ``python bench/overhead.py [--steps 20000] [--rounds 7]``. Target: the
agent_audit / sdk ratio at most 1.2 (issue 17).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import instrumentation  # noqa: E402
from instrumentation import agent_run  # noqa: E402
from instrumentation import attributes as attr  # noqa: E402
from instrumentation import env as E  # noqa: E402
from instrumentation.batching import BatchLimits, BurstSafeSpanProcessor  # noqa: E402
from instrumentation.pending import PendingSpanProcessor  # noqa: E402
from instrumentation.span_redaction import SpanRedactor  # noqa: E402
from instrumentation.span_trimming import SpanTrimmer, chain  # noqa: E402

RESULT = (
    "CONTAINER ID   IMAGE              STATUS                          NAMES\n"
    "4f1c2a9e0b7d   ghcr.io/acme/web   Restarting (137) 8 seconds ago  web-1\n"
    "1d77a0c4e5f2   nginx:1.27         Up 3 days                       nginx"
)
ARGS = {"all": True, "filter": "status=restarting"}
QUEUE_SIZE = 1 << 20  # large enough that no span is dropped during a round


class DiscardingExporter(SpanExporter):
    """Accepts every batch and keeps nothing."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def _provider(*, ours: bool, pending: bool) -> tuple[TracerProvider, DiscardingExporter]:
    exporter = DiscardingExporter()
    batch: SpanProcessor
    if ours:
        limits = BatchLimits(
            max_queue_size=QUEUE_SIZE, max_export_batch_size=512, schedule_delay_millis=500
        )
        # As configure() installs it: long values are cut on the batch thread, and
        # spans redacted there only with AGENT_AUDIT_REDACT_WIRE=true (by default
        # only what is spooled is).
        trimmer = SpanTrimmer(int(E.MAX_ATTRIBUTE_BYTES.read()))
        redact = chain(trimmer, SpanRedactor() if E.REDACT_WIRE.read() else None)
        batch = BurstSafeSpanProcessor(exporter, limits, redact=redact)
    else:
        batch = BatchSpanProcessor(
            exporter,
            max_queue_size=QUEUE_SIZE,
            schedule_delay_millis=500,
            max_export_batch_size=512,
        )
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(PendingSpanProcessor(batch) if pending else batch)
    return provider, exporter


@dataclass(frozen=True)
class Cost:
    """Microseconds per span: wall clock, CPU of the agent's thread, CPU of the process."""

    wall_us: float
    thread_cpu_us: float
    process_cpu_us: float


def _time_per_span(body: Callable[[int], None], steps: int) -> Cost:
    gc.collect()
    wall, thread, process = time.perf_counter_ns(), time.thread_time_ns(), time.process_time_ns()
    body(steps)
    return Cost(
        wall_us=(time.perf_counter_ns() - wall) / steps / 1000.0,
        thread_cpu_us=(time.thread_time_ns() - thread) / steps / 1000.0,
        process_cpu_us=(time.process_time_ns() - process) / steps / 1000.0,
    )


def sdk_round(provider: TracerProvider, steps: int) -> Cost:
    tracer = provider.get_tracer("bare")
    with tracer.start_as_current_span("invoke_agent") as run_span:
        run_context = trace.set_span_in_context(run_span)
        run_id = "0d9c8f0e-5a43-4c55-9a7b-0c7d6e2f1a11"

        def body(count: int) -> None:
            for _ in range(count):
                with tracer.start_as_current_span(
                    "execute_tool docker_ps",
                    context=run_context,
                    attributes={
                        attr.STEP_ACTION_TYPE: "tool_call",
                        attr.RUN_ID: run_id,
                        attr.GEN_AI_OPERATION_NAME: attr.OP_EXECUTE_TOOL,
                        attr.GEN_AI_TOOL_NAME: "docker_ps",
                        attr.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(ARGS),
                    },
                ) as span:
                    span.set_attribute(attr.GEN_AI_TOOL_CALL_RESULT, RESULT)

        return _time_per_span(body, steps)


def agent_audit_round(provider: TracerProvider, steps: int) -> Cost:
    instrumentation.configure(tracer_provider=provider, cancel_poll_s=None)
    try:
        with agent_run("bench") as run:

            def body(count: int) -> None:
                for _ in range(count):
                    with run.step("tool_call", tool_name="docker_ps", tool_args=ARGS) as step:
                        step.set_result(RESULT)

            return _time_per_span(body, steps)
    finally:
        instrumentation.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="spans per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per variant")
    parser.add_argument("--json", type=Path, help="also write the medians and ratios here")
    args = parser.parse_args(argv)

    variants: dict[str, tuple[Callable[[TracerProvider, int], Cost], bool]] = {
        "sdk": (sdk_round, False),
        "agent_audit": (agent_audit_round, True),
        "agent_audit_no_pending": (agent_audit_round, False),
    }
    providers = {
        name: _provider(ours=name != "sdk", pending=pending)
        for name, (_, pending) in variants.items()
    }
    for name, (round_fn, _) in variants.items():  # warm-up
        round_fn(providers[name][0], 1000)
    timings: dict[str, list[Cost]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (round_fn, _) in variants.items():
            timings[name].append(round_fn(providers[name][0], args.steps))
            providers[name][0].force_flush()
    for provider, _ in providers.values():
        provider.shutdown()

    print(f"steps per round: {args.steps}, rounds: {args.rounds}; medians, us per span")
    print(f"{'variant':<24} {'wall':>8} {'thread CPU':>11} {'process CPU':>12}")
    medians: dict[str, Cost] = {}
    for name, costs in timings.items():
        medians[name] = Cost(
            wall_us=statistics.median(c.wall_us for c in costs),
            thread_cpu_us=statistics.median(c.thread_cpu_us for c in costs),
            process_cpu_us=statistics.median(c.process_cpu_us for c in costs),
        )
        m = medians[name]
        print(f"{name:<24} {m.wall_us:8.1f} {m.thread_cpu_us:11.1f} {m.process_cpu_us:12.1f}")
    sdk = medians["sdk"]
    for name in ("agent_audit", "agent_audit_no_pending"):
        m = medians[name]
        print(
            f"ratio {name} / sdk: wall {m.wall_us / sdk.wall_us:.2f}, "
            f"thread CPU {m.thread_cpu_us / sdk.thread_cpu_us:.2f}, "
            f"process CPU {m.process_cpu_us / sdk.process_cpu_us:.2f}  (target <= 1.2)"
        )
    exported = {name: exporter.spans for name, (_, exporter) in providers.items()}
    print(f"spans exported: {exported}")
    if args.json:
        ratios = {
            name: {
                "wall": medians[name].wall_us / sdk.wall_us,
                "thread_cpu": medians[name].thread_cpu_us / sdk.thread_cpu_us,
                "process_cpu": medians[name].process_cpu_us / sdk.process_cpu_us,
            }
            for name in ("agent_audit", "agent_audit_no_pending")
        }
        medians_json = {name: vars(cost) for name, cost in medians.items()}
        args.json.write_text(json.dumps({"medians_us": medians_json, "ratios": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
