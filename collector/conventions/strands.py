"""Strands Agents' keys and span events beside the GenAI conventions it follows."""

from __future__ import annotations

from collector.conventions import genai as G

__all__ = [
    "SCOPE",
    "TOOL_STATUS",
    "EVENT_USER_MESSAGE",
    "EVENT_TOOL_MESSAGE",
    "EVENT_CHOICE",
    "EVENT_CONTENT",
    "EVENT_MESSAGE",
    "EVENT_DETAILS",
    "MULTIAGENT_OPERATIONS",
    "AGENT_OPERATION",
    "HANDOFF_TOOL",
    "HANDOFF_TARGET",
    "STRUCTURED_OUTPUT_TOOL",
    "TOOL_DESCRIPTION",
    "CANCELLATION_TYPE",
]

SCOPE = "strands.telemetry.tracer"
TOOL_STATUS = "gen_ai.tool.status"  # success / error
# Messages travel as span events (the GenAI event names of before the 1.37 conventions).
EVENT_USER_MESSAGE = G.EVENT_USER_MESSAGE  # {"content": JSON blocks [{"text": ...}]}
EVENT_TOOL_MESSAGE = G.EVENT_TOOL_MESSAGE  # on a tool span: {"content": JSON arguments}
EVENT_CHOICE = G.EVENT_CHOICE  # {"message": text or JSON blocks, "finish_reason": ...}
EVENT_CONTENT = "content"
EVENT_MESSAGE = "message"
# With OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental the messages travel in this
# event instead, as gen_ai.input.messages / gen_ai.output.messages (GenAI parts shape).
EVENT_DETAILS = G.EVENT_OPERATION_DETAILS

# A multi-agent run's span (``gen_ai.operation.name``): the swarm or graph itself, with no
# agent name, its agents' ``invoke_agent`` spans below it.
MULTIAGENT_OPERATIONS = {"invoke_swarm": "swarm", "invoke_graph": "graph"}
AGENT_OPERATION = "invoke_agent"  # one agent's turn, under the swarm's span
# A swarm's agent hands over by calling this tool; the agent it names runs next,
# unless the swarm's max_handoffs / max_iterations stopped it first.
HANDOFF_TOOL = "handoff_to_agent"
HANDOFF_TARGET = "agent_name"  # the tool's argument naming the next agent
# ``structured_output_model``: the model answers by calling a tool named after the output
# model, whose description starts with this; the run's answer is that call's input (JSON).
STRUCTURED_OUTPUT_TOOL = "IMPORTANT: This StructuredOutputTool"
TOOL_DESCRIPTION = "gen_ai.tool.description"
# On a run span ended by a cancellation (its span status stays UNSET): the exception's class.
CANCELLATION_TYPE = "strands.cancellation.type"
