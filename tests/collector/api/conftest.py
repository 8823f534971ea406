"""Fixtures for the query API: a real collector fed through the real instrumentation.

``agents`` configures ``instrumentation`` with an SDK provider whose OTLP/gRPC
exporter sends to the test's collector, and whose cancel poller reads the
collector's REST API. Runs are described by :class:`RunSpec` and sent with
:func:`send_runs`, so tests compute expected figures from what they sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider

from instrumentation import agent_run
from tests.conftest import CollectorHandle, start_test_collector
from tests.support import wait_until
from tests.tracing import traced_to


@dataclass(frozen=True)
class ToolCall:
    """One tool step of a run."""

    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    result: str = "ok"
    error: str | None = None


@dataclass(frozen=True)
class RunSpec:
    """What a test agent does; the expected figures are computed from these."""

    task: str
    status: str = "completed"  # completed, failed, max_steps
    source: str | None = "api"
    model: str | None = "qwen2.5-coder"
    model_used: str | None = None
    agent_name: str | None = "ops"
    tools: tuple[ToolCall, ...] = ()
    think_tokens: tuple[tuple[int, int], ...] = ()  # one think step per (in, out)
    final_answer: str | None = None
    error: str | None = None


class Agents:
    """Sends runs through ``instrumentation`` to one collector and waits until they land."""

    def __init__(self, collector: CollectorHandle, provider: TracerProvider) -> None:
        self.collector = collector
        self.provider = provider
        self.api = httpx.Client(base_url=collector.api_url, timeout=30.0)

    def run(self, spec: RunSpec) -> str:
        """Perform one run as an agent would; return its id."""
        with agent_run(
            spec.task,
            agent_name=spec.agent_name,
            source=spec.source,
            model_requested=spec.model,
        ) as run:
            if spec.model_used:
                run.set_model_used(spec.model_used)
            for tokens_in, tokens_out in spec.think_tokens:
                with run.step("think") as step:
                    step.set_thinking(f"thinking about {spec.task}")
                    step.set_tokens(input_tokens=tokens_in, output_tokens=tokens_out)
            for call in spec.tools:
                try:
                    with run.step("tool_call", tool_name=call.tool, tool_args=call.args) as step:
                        if call.error:
                            raise RuntimeError(call.error)
                        step.set_result(call.result)
                except RuntimeError:
                    pass  # the agent carries on after a failed tool
            if spec.status == "failed":
                run.finish(status="failed", error=spec.error or "it broke")
            else:
                run.finish(final_answer=spec.final_answer, status=spec.status)
        return run.id

    def send(self, specs: Sequence[RunSpec]) -> list[str]:
        """Run every spec, flush, and wait until the API shows each run ended."""
        ids = [self.run(spec) for spec in specs]
        self.flush_and_wait(ids)
        return ids

    def flush_and_wait(self, ids: Sequence[str]) -> None:
        """Flush the exporter and wait until every run is final in the API."""
        assert self.provider.force_flush(10_000)
        wanted = set(ids)

        def landed() -> bool:
            rows = self.collector.query(
                "SELECT count(*) FROM agent_runs WHERE id IN (SELECT unnest(?)) "
                "AND is_final AND status <> 'running'",
                [sorted(wanted)],
            )
            return rows[0][0] == len(wanted)

        wait_until(landed, timeout_s=20, what=f"{len(wanted)} runs to land")

    def get(self, path: str, **params: Any) -> Any:
        """GET a JSON endpoint and assert 200."""
        response = self.api.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@contextmanager
def traced_agents(collector: CollectorHandle) -> Iterator[Agents]:
    """Point ``instrumentation`` (process-wide) at ``collector`` for the block."""
    with traced_to(collector, "api-tests") as provider:
        helper = Agents(collector, provider)
        try:
            yield helper
        finally:
            helper.api.close()


@pytest.fixture
def agents(collector: CollectorHandle) -> Iterator[Agents]:
    """Agents sending to this test's own collector."""
    with traced_agents(collector) as helper:
        yield helper


@pytest.fixture(scope="module")
def module_agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agents]:
    """Agents and a collector shared by a module's read-only tests (do not mix with
    ``agents`` in one module: the instrumentation is configured process-wide)."""
    handle = start_test_collector(tmp_path_factory.mktemp("shared") / "audit.duckdb")
    try:
        with traced_agents(handle) as helper:
            yield helper
    finally:
        handle.stop()
