"""Span names and attribute keys shared by the instrumentation and the collector.

GenAI names follow the OpenTelemetry GenAI semantic conventions
(https://opentelemetry.io/docs/specs/semconv/gen-ai/); the ``agent_run.*`` and
``agent_step.*`` namespaces hold only what those conventions lack.
"""

from __future__ import annotations

from enum import StrEnum

# --- OpenTelemetry GenAI semantic conventions -------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_AGENT_ID = "gen_ai.agent.id"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_SYSTEM = "gen_ai.system"  # deprecated name of gen_ai.provider.name
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_PROMPT_TOKENS = "gen_ai.usage.prompt_tokens"  # deprecated
GEN_AI_USAGE_COMPLETION_TOKENS = "gen_ai.usage.completion_tokens"  # deprecated
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
ERROR_TYPE = "error.type"
SERVICE_NAME = "service.name"

OP_INVOKE_AGENT = "invoke_agent"
OP_CREATE_AGENT = "create_agent"
OP_EXECUTE_TOOL = "execute_tool"
OP_CHAT = "chat"
OP_TEXT_COMPLETION = "text_completion"
OP_GENERATE_CONTENT = "generate_content"
RUN_OPERATIONS = frozenset({OP_INVOKE_AGENT, OP_CREATE_AGENT})
LLM_OPERATIONS = frozenset({OP_CHAT, OP_TEXT_COMPLETION, OP_GENERATE_CONTENT})

# --- OpenInference ------------------------------------------------------------
OPENINFERENCE_SPAN_KIND = "openinference.span.kind"

# --- Traceloop SDK decorators (OpenLLMetry) --------------------------------------
TRACELOOP_SPAN_KIND = "traceloop.span.kind"
TRACELOOP_RUN_KINDS = frozenset({"workflow", "agent"})  # @workflow, @agent; @task, @tool steps

# --- agent-audit's own run attributes ------------------------------------------
RUN_ID = "agent_run.id"
RUN_TASK = "agent_run.task"
RUN_SOURCE = "agent_run.source"
RUN_TRIGGERED_BY = "agent_run.triggered_by"
RUN_BACKEND = "agent_run.backend"
RUN_WORKING_DIRECTORY = "agent_run.working_directory"
RUN_STATUS = "agent_run.status"
RUN_FINAL_ANSWER = "agent_run.final_answer"
RUN_METADATA = "agent_run.metadata"  # JSON text
RUN_ERROR = "agent_run.error"

# --- agent-audit's own step attributes -----------------------------------------
# Every step span carries RUN_ID too, so the collector can place a step
# whichever order spans arrive in.
STEP_ACTION_TYPE = "agent_step.action_type"
STEP_THINKING = "agent_step.thinking"
STEP_ERROR = "agent_step.error"

# --- a command run on a server (ssh_tools) ---------------------------------------
# On the tool step of each command ssh_tools ran or refused; the collector reads
# them into the step row (collector/server_commands.py). Any tool span may carry them.
SSH_HOST = "ssh.host"
SSH_PORT = "ssh.port"
SSH_USER = "ssh.user"
SSH_ARGV = "ssh.argv"  # JSON list of the exact argv requested; JSON null if it did not parse
SSH_COMMAND = "ssh.command"  # the raw command text given to run_on_server
SSH_DECISION = "ssh.decision"  # "allowed" or "refused"
SSH_REASON = "ssh.reason"  # why it was allowed or refused
SSH_REFUSED_BY = "ssh.refused_by"  # "client" or "gateway"
SSH_EXIT_CODE = "ssh.exit_code"  # only when the command reached the server
SSH_DURATION_MS = "ssh.duration_ms"
SSH_OUTPUT_BYTES = "ssh.output_bytes"  # bytes of the result text returned to the agent
SSH_OUTPUT_SHA256 = "ssh.output_sha256"  # hex sha256 of that result text, UTF-8
SSH_OUTPUT_CUT = "ssh.output_cut"  # true when the output was cut at the cap
SSH_ERROR_TYPE = "ssh.error_type"  # class name of the ssh_tools error, if any

# --- what a framework's own spans leave out (see instrumentation/agents_sdk_spans.py) ---
# On a tool span whose call or result a guardrail rejected, the model told its message instead
# (the Agents SDK's ``reject_content``): which guardrail, as "tool input guardrail {name}" or
# "tool output guardrail {name}".
TOOL_REJECTED_BY = "agent_audit.tool.rejected_by"

# --- live spans (see instrumentation/pending.py) --------------------------------
# A zero-length copy of a span, exported when the real span starts; its parent
# is the real span. The collector shows it as running until the real span lands.
PENDING = "agent_audit.pending"
PENDING_PARENT_ID = "agent_audit.pending_parent_id"  # hex span id of the real span
# The real span's own parent (hex), so a span that never ends still places what is below it.
PENDING_REAL_PARENT_ID = "agent_audit.pending_real_parent_id"
# On the last copy of a run span still open when the process shut its tracing down (Ctrl-C,
# sys.exit, a server stopping): the run was cut off there, not lost.
PENDING_OPEN_AT_EXIT = "agent_audit.pending_open_at_exit"


# --- values ---------------------------------------------------------------------
class RunStatus(StrEnum):
    """Where a run stands. LOST is set by the collector when a running run falls silent."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    MAX_STEPS = "max_steps"
    CANCELLED = "cancelled"
    LOST = "lost"


class StepStatus(StrEnum):
    """Where a step stands, as the collector stores it."""

    RUNNING = "running"
    OK = "ok"
    ERROR = "error"


RUN_STATUSES: tuple[str, ...] = tuple(s.value for s in RunStatus)
# The statuses a run may finish with (LOST is only ever the collector's verdict).
FINISH_STATUSES: tuple[str, ...] = tuple(
    s.value
    for s in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.MAX_STEPS, RunStatus.CANCELLED)
)
ACTION_TYPES = ("tool_call", "think", "response", "terminate")

RUN_SPAN_PREFIX = "invoke_agent"
TOOL_SPAN_PREFIX = "execute_tool"
LLM_SPAN_PREFIX = "chat"
