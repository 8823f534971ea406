"""JSON-schema descriptions of the tools, in the shape of OpenAI's ``tools`` entries.

Bounds (container name pattern, ``tail`` range) are read from the policy, so the
model is told the same limits the allowlist enforces.
"""

from __future__ import annotations

from typing import Any

from ssh_tools.allowlist import DEFAULT_POLICY, Policy

__all__ = ["TOOL_DESCRIPTIONS", "TOOL_NAMES", "openai_tool_definitions", "parameter_schemas"]

TOOL_DESCRIPTIONS: dict[str, str] = {
    "docker_ps": "List the containers on the server (docker ps); running ones unless all=true.",
    "docker_logs": (
        "Read the last lines of a container's logs (docker logs --tail N), "
        "optionally only those since a time."
    ),
    "docker_inspect": (
        "Show a container's configuration and state as JSON (docker inspect). "
        "Environment values are hidden as KEY=***."
    ),
    "docker_stats": "One snapshot of CPU, memory, network and disk use (docker stats --no-stream).",
    "docker_restart": (
        "Restart one container (docker restart). Rate-limited: the same container cannot be "
        "restarted again within a minimum interval."
    ),
    "run_on_server": (
        "Run one docker command on the server, written as a plain command line such as "
        "'docker ps -a' or 'docker logs --tail 100 web'. Only allowlisted read-only docker "
        "commands and restart are accepted: no shell syntax, no exec/run/rm, no --format."
    ),
}
TOOL_NAMES = tuple(TOOL_DESCRIPTIONS)


def parameter_schemas(policy: Policy | None = None) -> dict[str, dict[str, Any]]:
    """Tool name -> JSON schema of its parameters."""
    policy = policy or DEFAULT_POLICY
    container = _container_schema(policy)
    tail = policy.shapes.get("tail")
    tail_schema: dict[str, Any] = {
        "type": "integer",
        "description": "how many lines from the end",
        "default": 50,
    }
    if tail is not None and tail.minimum is not None:
        tail_schema |= {"minimum": tail.minimum, "maximum": tail.maximum}
    return {
        "docker_ps": _object(
            {
                "all": {
                    "type": "boolean",
                    "description": "include stopped containers",
                    "default": False,
                }
            }
        ),
        "docker_logs": _object(
            {
                "container": container,
                "tail": tail_schema,
                "since": {
                    "type": ["string", "null"],
                    "description": (
                        "only lines since this time: a duration such as 10m or 2h, a unix "
                        "timestamp, or an RFC 3339 time such as 2024-05-01T12:00:00Z"
                    ),
                    "maxLength": 40,
                },
            },
            required=["container"],
        ),
        "docker_inspect": _object({"container": container}, required=["container"]),
        "docker_stats": _object(
            {
                "container": {
                    **container,
                    "type": ["string", "null"],
                    "description": "one container; omit for all running containers",
                }
            }
        ),
        "docker_restart": _object({"container": container}, required=["container"]),
        "run_on_server": _object(
            {
                "command": {
                    "type": "string",
                    "description": "the docker command line, e.g. 'docker ps -a'",
                    "maxLength": policy.max_command_length,
                }
            },
            required=["command"],
        ),
    }


def openai_tool_definitions(policy: Policy | None = None) -> list[dict[str, Any]]:
    """The ``tools`` list for an OpenAI-compatible chat completion request."""
    schemas = parameter_schemas(policy)
    return [
        {
            "type": "function",
            "function": {
                "name": name,
                "description": TOOL_DESCRIPTIONS[name],
                "parameters": schemas[name],
            },
        }
        for name in TOOL_NAMES
    ]


def _container_schema(policy: Policy) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "description": "container name or id"}
    shape = policy.shapes.get("container")
    if shape is not None and shape.pattern is not None:
        schema |= {"pattern": f"^(?:{shape.pattern.pattern})$", "maxLength": shape.max_length}
    return schema


def _object(properties: dict[str, Any], *, required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }
