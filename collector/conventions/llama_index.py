"""LlamaIndex's shapes beside OpenInference (openinference-instrumentation-llama-index)."""

from __future__ import annotations

import re

__all__ = [
    "REACT_ANSWER",
    "SCOPE",
    "AGENT_RUN_SPAN",
    "PREPARE_CALL_SUFFIX",
    "INPUT_MESSAGE_KEY_PREFIX",
    "TOOL_INPUT_KWARGS",
    "TOOL_INPUT_ARGS",
    "TOOL_OUTPUT_RAW",
    "TOOL_OUTPUT_IS_ERROR",
    "TOOL_OUTPUT_BLOCKS",
    "STEP_LIMIT_EXCEPTION",
    "STEP_LIMIT_MESSAGE",
    "INJECTED_CONTEXT",
    "CANCELLED_EVENT",
    "CURRENT_AGENT",
    "WORKFLOW_RUN_SPAN",
    "ENGINE_ENTRY_SPAN",
    "QUERY_RESPONSE_KEYS",
    "TOOL_NOT_FOUND",
]

SCOPE = "openinference.instrumentation.llama_index"
# An agent's run: FunctionAgent.run, ReActAgent.run, CodeActAgent.run, AgentWorkflow.run
# (CHAIN spans named after the class's ``run``).
AGENT_RUN_SPAN = re.compile(r"^(\w*Agent|AgentWorkflow)\.run$")
# A single agent's run (not an ``AgentWorkflow``'s): its steps' state names the agent.
CURRENT_AGENT = re.compile(r"""current_agent_name=(?:'([^'\\]*)'|"([^"\\]*)")""")
WORKFLOW_RUN_SPAN = "AgentWorkflow.run"
# A query engine's or chat engine's entry (RetrieverQueryEngine.query, SimpleChatEngine.chat,
# CondensePlusContextChatEngine.astream_chat, ...): the program's run when nothing is above it.
ENGINE_ENTRY_SPAN = re.compile(r"^(\w+)\.(a?query|a?chat|a?stream_chat)$")
# LLM-kind spans that are no model call: the tool-schema preparation ...
PREPARE_CALL_SUFFIX = "._prepare_chat_with_tools"
# ... and the outer span of a streamed call, without the messages: only a span that
# carries them (llm.input_messages.N...) is the call itself.
INPUT_MESSAGE_KEY_PREFIX = "llm.input_messages."
# A tool's input.value {"kwargs": {...}} (and "args"); its output.value the ToolOutput JSON.
TOOL_INPUT_KWARGS = "kwargs"
TOOL_INPUT_ARGS = "args"
TOOL_OUTPUT_RAW = "raw_output"
TOOL_OUTPUT_IS_ERROR = "is_error"
TOOL_OUTPUT_BLOCKS = "blocks"
# A query engine's Response (``{"response", "source_nodes", "metadata"}``) as a tool's raw
# output (QueryEngineTool): the model is handed its text, the blocks' text.
QUERY_RESPONSE_KEYS = frozenset({"response", "source_nodes"})
# A tool taking the workflow's Context (AgentWorkflow's ``handoff``) gets it injected: its repr
# is in the kwargs, no argument of the model's.
INJECTED_CONTEXT = re.compile(r"^<[\w.]*Context object at 0x[0-9a-f]+>$")
# Past ``max_iterations`` the workflow raises this, "Max iterations of N reached! ...".
STEP_LIMIT_EXCEPTION = "WorkflowRuntimeError"
# The event a span dropped by a cancellation gets (``handler.cancel_run()``: the run span's
# reason is "workflow cancelled by user"); the span itself stays OK.
CANCELLED_EVENT = "span.cancelled"
STEP_LIMIT_MESSAGE = "Max iterations of"
# ReActAgent's model answers in text; the final one is "Thought: ...\nAnswer: {answer}",
# and the agent returns only what follows "Answer:" (its output parser's reading).
REACT_ANSWER = re.compile(r"(?s)^\s*Thought:.*?Answer:(.*)$")
# What an agent tells the model that called a tool it does not have (no tool span runs):
# "Tool {name} not found. Please select a tool that is available." (base_agent.py,
# multi_agent_workflow.py), a tool message under the call's id.
TOOL_NOT_FOUND = re.compile(r"^Tool (.+) not found\. Please select a tool that is available\.$")
