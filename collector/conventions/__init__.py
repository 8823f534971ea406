"""Attribute keys of other instrumentations, one module per convention.

agent-audit's own keys, and the GenAI keys the instrumentation writes, live in
``instrumentation.attributes``; these modules name only what the collector reads
from other instrumentations' spans. OpenLLMetry's spans are read through the
deprecated GenAI keys in ``genai`` (see its docstring).
"""
