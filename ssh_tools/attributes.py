"""Span attribute keys that ``ssh_tools`` puts on every tool-call step it records.

They sit beside the GenAI ``execute_tool`` attributes the instrumentation sets
(``gen_ai.tool.name``, ``gen_ai.tool.call.arguments``, ``gen_ai.tool.call.result``).
"""

from __future__ import annotations

# The keys live with the instrumentation's, where the collector reads them too.
from instrumentation.attributes import (
    SSH_ARGV,
    SSH_COMMAND,
    SSH_DECISION,
    SSH_DURATION_MS,
    SSH_ERROR_TYPE,
    SSH_EXIT_CODE,
    SSH_HOST,
    SSH_OUTPUT_BYTES,
    SSH_OUTPUT_CUT,
    SSH_OUTPUT_SHA256,
    SSH_PORT,
    SSH_REASON,
    SSH_REFUSED_BY,
    SSH_USER,
)

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
