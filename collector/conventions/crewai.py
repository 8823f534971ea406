"""CrewAI's keys beside OpenInference (openinference-instrumentation-crewai)."""

from __future__ import annotations

from collector.conventions.openinference import GRAPH_NODE_ID

__all__ = [
    "SCOPE",
    "GRAPH_NODE_ID",
    "TASK_DESCRIPTION",
    "TASK_OUTPUT_RAW",
    "INPUT_AGENT",
    "AGENT_MAX_ITER",
    "AGENT_ROLE",
    "KICKOFF_MESSAGES",
]

SCOPE = "openinference.instrumentation.crewai"
# GRAPH_NODE_ID (OpenInference's key): the agent's role, on a task's AGENT span.
# output.value of a task's AGENT span: the TaskOutput as JSON.
TASK_DESCRIPTION = "description"
TASK_OUTPUT_RAW = "raw"  # the answer's text (also on Agent.kickoff's output)
# input.value of a task's AGENT span: {"agent": {"role", "max_iter", ...}, "context", "tools"}.
INPUT_AGENT = "agent"
AGENT_MAX_ITER = "max_iter"
AGENT_ROLE = "role"
# input.value of Agent.kickoff's AGENT span ({role}.kickoff): {"messages": text or a list}.
KICKOFF_MESSAGES = "messages"
