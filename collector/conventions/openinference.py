"""OpenInference attribute keys (OpenAI Agents SDK and smolagents instrumentations)."""

from __future__ import annotations

import re

from instrumentation.attributes import OPENINFERENCE_SPAN_KIND

__all__ = [
    "SPAN_KIND",
    "KIND_AGENT",
    "KIND_TOOL",
    "KIND_LLM",
    "OPENAI_AGENTS_SCOPE",
    "OPENAI_AGENTS_JS_SCOPE",
    "OPENAI_AGENTS_JS_MAX_TURNS",
    "GRAPH_NODE_ID",
    "SMOLAGENTS_SCOPE",
    "INPUT_VALUE",
    "OUTPUT_VALUE",
    "OUTPUT_MIME_TYPE",
    "MIME_JSON",
    "LLM_MODEL_NAME",
    "LLM_REQUEST_MODEL_NAME",
    "LLM_PROVIDER",
    "LLM_SYSTEM",
    "LLM_TOKEN_COUNT_PROMPT",
    "LLM_TOKEN_COUNT_COMPLETION",
    "LLM_FINISH_REASON",
    "AGENT_NAME",
    "GRAPH_NODE_NAME",
    "TOOL_NAME",
    "TOOL_DESCRIPTION",
    "TOOL_PARAMETERS",
    "SMOLAGENTS_MAX_STEPS",
    "SMOLAGENTS_INTERRUPTED",
    "FLAT_MESSAGE",
    "LANGCHAIN_SCOPE",
    "LANGCHAIN_JS_SCOPE",
    "KIND_CHAIN",
    "KIND_GUARDRAIL",
    "METADATA",
    "LLM_INVOCATION_PARAMETERS",
    "LC_AGENT_NAME",
    "LANGGRAPH_NODE",
    "LS_INTEGRATION",
    "LANGGRAPH_INTEGRATIONS",
    "OPENAI_AGENTS_MAX_TURNS",
    "OPENAI_AGENTS_HANDOFF_PREFIX",
    "OPENAI_AGENTS_TRIPWIRE",
    "OPENAI_AGENTS_TURN",
    "OPENAI_AGENTS_TORN_DOWN",
    "OPENAI_AGENTS_ERROR_DETAIL",
    "TOOL_CALL_ID",
    "TOOL_CALL_FUNCTION_NAME",
    "TOOL_CALL_FUNCTION_ARGUMENTS",
]

SPAN_KIND = OPENINFERENCE_SPAN_KIND
KIND_AGENT = "AGENT"
KIND_TOOL = "TOOL"
KIND_LLM = "LLM"

OPENAI_AGENTS_SCOPE = "openinference.instrumentation.openai_agents"
# The same processor for the SDK in JavaScript (@openai/agents): its agent spans name the
# agent in graph.node.id only, and its SDK trace is an AGENT span with the run's input and
# output; a failure's data is JSON ("Error in agent run: {"error":"..."}").
OPENAI_AGENTS_JS_SCOPE = "@arizeai/openinference-instrumentation-openai-agents"
GRAPH_NODE_ID = "graph.node.id"  # the node a span runs as (CrewAI: the agent's role)
# The JavaScript SDK's MaxTurnsExceededError, as the failed agent span's error detail:
# "MaxTurnsExceededError: Max turns (2) exceeded".
OPENAI_AGENTS_JS_MAX_TURNS = "MaxTurnsExceededError:"
SMOLAGENTS_SCOPE = "openinference.instrumentation.smolagents"
# The OpenAI Agents SDK's MaxTurnsExceeded, as the agent span's status description:
# "Max turns exceeded: {'max_turns': 2}".
OPENAI_AGENTS_MAX_TURNS = "Max turns exceeded"
# A hand-off's TOOL span: "handoff to {agent}", input.value the agent handing over, output.value
# the one taking over; no tool.name (the model called e.g. transfer_to_{agent}).
OPENAI_AGENTS_HANDOFF_PREFIX = "handoff to "
# A guardrail that tripped: "Guardrail tripwire triggered: {'guardrail': 'no_secrets'}", on the
# turn span (an input guardrail) or the agent span (an output guardrail).
OPENAI_AGENTS_TRIPWIRE = "Guardrail tripwire triggered"
# The SDK's span of one turn of the agent loop (``TurnSpanData``), a CHAIN under the agent's:
# what the SDK raises itself while it reads the turn's answer is traced there.
OPENAI_AGENTS_TURN = "turn"
# A run torn down from outside (Ctrl-C out of ``asyncio.run``, whose clean-up cancels the run's
# task in another context): the SDK's span context cannot be reset there, and the agent span
# fails with "Error in agent run: {'error': \"<Token var=<ContextVar name='current_span' ...>
# at 0x...> was created in a different Context\"}".
OPENAI_AGENTS_TORN_DOWN = "was created in a different Context"
# The SDK's SpanError as OpenInference writes it into the status: "{message}: {data}", the data
# a dict's repr whose "error" holds what went wrong: "Error in agent run: {'error': '...'}",
# "Error getting response: {'error': '...'}", "Error running tool: {'tool_name': ..., 'error':
# ...}".
OPENAI_AGENTS_ERROR_DETAIL = "error"

INPUT_VALUE = "input.value"
OUTPUT_VALUE = "output.value"
OUTPUT_MIME_TYPE = "output.mime_type"
MIME_JSON = "application/json"
LLM_MODEL_NAME = "llm.model_name"
# The model asked for, where an instrumentation names it apart (Anthropic's); llm.model_name
# is then the one that answered.
LLM_REQUEST_MODEL_NAME = "llm.request.model_name"
LLM_PROVIDER = "llm.provider"
LLM_SYSTEM = "llm.system"
LLM_TOKEN_COUNT_PROMPT = "llm.token_count.prompt"  # noqa: S105 (a key, no secret)
LLM_TOKEN_COUNT_COMPLETION = "llm.token_count.completion"  # noqa: S105
LLM_FINISH_REASON = "llm.finish_reason"  # Responses API only
AGENT_NAME = "agent.name"
GRAPH_NODE_NAME = "graph.node.name"
TOOL_NAME = "tool.name"
TOOL_DESCRIPTION = "tool.description"
TOOL_PARAMETERS = "tool.parameters"  # JSON; smolagents: {name: {type, description}} in order
SMOLAGENTS_MAX_STEPS = "smolagents.max_steps"
# What smolagents raises (an AgentError) when ``agent.interrupt()`` stopped a run.
SMOLAGENTS_INTERRUPTED = "Agent interrupted."

# Messages flattened into keys: llm.input_messages.N.message.role / .content /
# .tool_calls.M... / .contents.M.message_content.text. Groups: direction, index, rest.
# Under a flattened message's "tool_calls.K.": the call's function name and arguments (JSON).
TOOL_CALL_ID = "tool_call.id"
TOOL_CALL_FUNCTION_NAME = "tool_call.function.name"
TOOL_CALL_FUNCTION_ARGUMENTS = "tool_call.function.arguments"
FLAT_MESSAGE = re.compile(r"^llm\.(input|output)_messages\.(\d+)\.message\.(.+)$")

# LangChain / LangGraph (openinference-instrumentation-langchain).
LANGCHAIN_SCOPE = "openinference.instrumentation.langchain"
# OpenInference's LangChain.js instrumentation: the same span shapes, from LangChain.js.
LANGCHAIN_JS_SCOPE = "@arizeai/openinference-instrumentation-langchain"
KIND_CHAIN = "CHAIN"
KIND_GUARDRAIL = "GUARDRAIL"
METADATA = "metadata"  # JSON; LangChain's run metadata, e.g. {"lc_agent_name": ...}
# Keys of that metadata: the agent (create_agent's name) a span runs in, the graph node it
# runs in (inherited by everything below the node), and what invoked it.
LC_AGENT_NAME = "lc_agent_name"
LANGGRAPH_NODE = "langgraph_node"
LS_INTEGRATION = "ls_integration"
LANGGRAPH_INTEGRATIONS = frozenset({"langgraph", "langchain_create_agent"})
LLM_INVOCATION_PARAMETERS = "llm.invocation_parameters"  # JSON; "model" is the requested one
