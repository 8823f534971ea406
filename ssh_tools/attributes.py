"""Span attribute keys that ``ssh_tools`` puts on every tool-call step it records.

They sit beside the GenAI ``execute_tool`` attributes the instrumentation sets
(``gen_ai.tool.name``, ``gen_ai.tool.call.arguments``, ``gen_ai.tool.call.result``).
"""

from __future__ import annotations

SSH_HOST = "ssh.host"
SSH_PORT = "ssh.port"
SSH_USER = "ssh.user"
SSH_ARGV = "ssh.argv"  # JSON list of the exact argv requested; JSON null if it did not parse
SSH_COMMAND = "ssh.command"  # the raw command text given to run_on_server
SSH_DECISION = "ssh.decision"  # DECISION_ALLOWED or DECISION_REFUSED
SSH_REASON = "ssh.reason"  # why it was allowed or refused
SSH_REFUSED_BY = "ssh.refused_by"  # "client" or "gateway"
SSH_EXIT_CODE = "ssh.exit_code"  # only when the command reached the server
SSH_DURATION_MS = "ssh.duration_ms"
SSH_OUTPUT_BYTES = "ssh.output_bytes"  # bytes of the result text returned to the agent
SSH_OUTPUT_SHA256 = "ssh.output_sha256"  # hex sha256 of that result text, UTF-8
SSH_OUTPUT_CUT = "ssh.output_cut"  # true when the output was cut at the cap
SSH_ERROR_TYPE = "ssh.error_type"  # class name of the ssh_tools error, if any

DECISION_ALLOWED = "allowed"
DECISION_REFUSED = "refused"

ALL_KEYS = (
    SSH_HOST,
    SSH_PORT,
    SSH_USER,
    SSH_ARGV,
    SSH_COMMAND,
    SSH_DECISION,
    SSH_REASON,
    SSH_REFUSED_BY,
    SSH_EXIT_CODE,
    SSH_DURATION_MS,
    SSH_OUTPUT_BYTES,
    SSH_OUTPUT_SHA256,
    SSH_OUTPUT_CUT,
    SSH_ERROR_TYPE,
)
