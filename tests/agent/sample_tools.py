"""A tool module for ``AGENT_AUDIT_AGENT_TOOL_MODULES`` in the CLI test."""

from __future__ import annotations

from agent import register_tool


@register_tool
def uptime_of(host: str) -> str:
    """How long a host has been up.

    Args:
        host: the host name
    """
    return f"{host} up 12 days"
