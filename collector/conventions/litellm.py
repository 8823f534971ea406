"""LiteLLM's own OpenTelemetry callback (``litellm.callbacks = ["otel"]``), scope ``litellm``.

With no span of the program's around a call it writes a ``litellm_request`` span (GenAI
keys) with a ``raw_gen_ai_request`` child: the provider's request and response as Python
reprs under ``llm.{provider}.*``. Inside a span of the program's own it writes each call's
GenAI keys onto that span instead (each call overwriting the one before) and only the
``raw_gen_ai_request`` children stay one per call. It writes those raw spans only when it
captures content in spans (``gen_ai.input.messages`` set) under the conventions it has long
written (``gen_ai.system``; not with ``gen_ai_latest_experimental``), and names them after
the request's ``generation_name`` metadata when one is given.
"""

from __future__ import annotations

import re

__all__ = [
    "SCOPE",
    "RAW_REQUEST_SPAN",
    "CALL_ID",
    "RAW_KEY",
    "RAW_MESSAGES",
    "RAW_CHOICES",
    "RAW_MODEL",
    "RAW_USAGE",
]

SCOPE = "litellm"
RAW_REQUEST_SPAN = "raw_gen_ai_request"
# Set on every span LiteLLM writes a call onto, its own or the program's.
CALL_ID = "litellm.call_id"
# The raw request and response: ``llm.{provider}.{field}`` (Python reprs); an
# OpenAI-compatible provider's fields are these.
RAW_KEY = re.compile(r"^llm\.([A-Za-z0-9_]+)\.(messages|choices|model|usage)$")
RAW_MESSAGES = "messages"
RAW_CHOICES = "choices"
RAW_MODEL = "model"
RAW_USAGE = "usage"
