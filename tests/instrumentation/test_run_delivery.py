"""A finished run is sent at once, not at the batch queue's next tick.

A process may end without running its exit handlers right after a run finishes
(SIGTERM's default action, ``os._exit``, a container stopped): a run that waited
for the next tick of the span queue (500 ms by default, here a minute) was lost.
"""

from __future__ import annotations

import instrumentation
from tests.instrumentation.recording import RecordingHttpServer
from tests.support import wait_until


def test_a_finished_run_and_its_steps_are_sent_without_waiting_for_the_tick(
    http_server: RecordingHttpServer,
) -> None:
    instrumentation.configure(
        endpoint=http_server.url,
        protocol="http/protobuf",
        cancel_poll_s=None,
        schedule_delay_ms=60_000,
    )
    run_ids = []
    for index in range(3):
        with instrumentation.agent_run(f"task {index}") as run:
            with run.step("tool_call", tool_name="ls") as step:
                step.set_result("a b")
            with run.step("think", model="m"):
                pass
        run_ids.append(run.id)

        def delivered(run_id: str = run.id) -> list[str]:
            return [
                span.name
                for span in http_server.spans()
                if not span.pending and span.attributes.get("agent_run.id") == run_id
            ]

        names = wait_until(delivered, timeout_s=10, what=f"run {index} at the collector")
        assert sorted(names) == ["chat m", "execute_tool ls", "invoke_agent"]
    real = [span.span_id for span in http_server.spans() if not span.pending]
    assert len(real) == len(set(real)) == 9  # each span once
