"""The agent's server tools: allowlisted docker commands over SSH, each one recorded.

Every call, allowed or refused, is a tool-call step of the current agent run (or a
standalone ``execute_tool`` span) carrying the ``ssh.*`` attributes of
:mod:`ssh_tools.attributes`. Errors come back as the tool's result text, starting
with ``error:``; a tool never raises into the agent. Refused commands are never sent.

    tools = ServerTools.from_env()
    response = client.chat.completions.create(..., tools=tools.openai_tools())
    for call in response.choices[0].message.tool_calls or []:
        result = tools.call_tool(
            call.function.name, call.function.arguments, tool_call_id=call.id
        )
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from instrumentation import tool_step
from ssh_tools import attributes as keys
from ssh_tools.allowlist import Policy, Refusal, check_argv, evaluate, positional_arguments
from ssh_tools.connection import CommandResult, SSHConnection
from ssh_tools.definitions import TOOL_NAMES, openai_tool_definitions, parameter_schemas
from ssh_tools.errors import (
    CommandTimeout,
    NonZeroExit,
    PolicyRefused,
    RateLimited,
    SSHToolError,
)
from ssh_tools.protocol import EXIT_REFUSED, EXIT_TIMEOUT
from ssh_tools.redaction import redact_inspect_env
from ssh_tools.settings import SSHSettings
from ssh_tools.terminal_text import plain_text

__all__ = ["ServerTools"]

logger = logging.getLogger(__name__)

_ERROR_PREFIX = "error: "


class ServerTools:
    """docker_ps, docker_logs, docker_inspect, docker_stats, docker_restart, run_on_server.

    ``clock`` (monotonic seconds) drives the restart rate limit.
    """

    def __init__(
        self,
        connection: SSHConnection,
        *,
        restart_min_interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connection = connection
        settings = connection.settings
        self._restart_min_interval_s = (
            settings.restart_min_interval_s
            if restart_min_interval_s is None
            else restart_min_interval_s
        )
        self._clock = clock
        self._last_restart: dict[str, float] = {}
        self._restart_lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ServerTools:
        """Tools on a connection made from the ``AGENT_AUDIT_SSH_*`` variables."""
        return cls(SSHConnection(SSHSettings.from_env(env)))

    @property
    def connection(self) -> SSHConnection:
        """The SSH connection the tools use."""
        return self._connection

    def close(self) -> None:
        """Close the SSH connection."""
        self._connection.close()

    def __enter__(self) -> ServerTools:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the tools -------------------------------------------------------------------

    def docker_ps(self, all: bool = False) -> str:
        """List the containers (``docker ps``); stopped ones too when ``all``."""
        return self._call("docker_ps", {"all": all})

    def docker_logs(self, container: str, tail: int = 50, since: str | None = None) -> str:
        """The last ``tail`` lines of a container's logs, only those since ``since`` if given."""
        return self._call("docker_logs", {"container": container, "tail": tail, "since": since})

    def docker_inspect(self, container: str) -> str:
        """A container's configuration and state as JSON, with Env values shown as ``KEY=***``."""
        return self._call("docker_inspect", {"container": container})

    def docker_stats(self, container: str | None = None) -> str:
        """One snapshot of resource use (``docker stats --no-stream``), all or one container."""
        return self._call("docker_stats", {"container": container})

    def docker_restart(self, container: str) -> str:
        """Restart one container; refused if it was restarted within the minimum interval."""
        return self._call("docker_restart", {"container": container})

    def run_on_server(self, command: str) -> str:
        """Run one allowlisted docker command given as a plain command line."""
        return self._call("run_on_server", {"command": command})

    # --- tool-calling plumbing ---------------------------------------------------------

    def openai_tools(self) -> list[dict[str, Any]]:
        """The tools as OpenAI ``tools`` entries, with this connection's policy limits."""
        return openai_tool_definitions(self._connection.policy)

    def call_tool(
        self,
        name: str,
        arguments: str | Mapping[str, Any] | None = None,
        *,
        tool_call_id: str | None = None,
    ) -> str:
        """Run the tool ``name`` with JSON (text or dict) ``arguments``; always returns text.

        Bad names and arguments are recorded as refused steps too. Only
        ``instrumentation.RunCancelled`` (the run was cancelled) propagates.
        """
        if name not in TOOL_NAMES:
            return self._refuse(name, arguments, f"unknown tool {name!r}", tool_call_id)
        if arguments is not None and not isinstance(arguments, str | Mapping):
            reason = f"arguments are not a JSON object (got {type(arguments).__name__})"
            return self._refuse(name, arguments, reason, tool_call_id)
        try:
            parsed = json.loads(arguments) if isinstance(arguments, str) else dict(arguments or {})
        except (ValueError, TypeError) as exc:
            reason = f"arguments are not a JSON object: {exc}"
            return self._refuse(name, arguments, reason, tool_call_id)
        except RecursionError:  # JSON nested past what the parser follows
            return self._refuse(name, arguments, "arguments are nested too deeply", tool_call_id)
        if not isinstance(parsed, dict):
            return self._refuse(name, arguments, "arguments are not a JSON object", tool_call_id)
        schema = parameter_schemas(self._connection.policy)[name]
        unknown = sorted(set(parsed) - set(schema["properties"]))
        missing = [key for key in schema["required"] if key not in parsed]
        if unknown or missing:
            problem = f"unexpected argument(s) {unknown}" if unknown else f"missing {missing}"
            return self._refuse(name, parsed, f"{name}: {problem}", tool_call_id)
        return self._call(name, parsed, tool_call_id)

    def _refuse(self, name: str, arguments: Any, reason: str, tool_call_id: str | None) -> str:
        def build() -> list[str]:
            raise PolicyRefused(reason)

        # Recorded under a name whatever the model sent: a step needs one.
        shown = str(name)[:200] if name is not None else ""
        return self._execute(shown or "<empty>", arguments, build, tool_call_id=tool_call_id)

    def _call(self, name: str, arguments: dict[str, Any], tool_call_id: str | None = None) -> str:
        policy = self._connection.policy
        builder = _BUILDERS[name]
        command = arguments.get("command") if name == "run_on_server" else None
        return self._execute(
            name,
            arguments,
            lambda: builder(policy, **arguments),
            command=command if isinstance(command, str) else None,
            tool_call_id=tool_call_id,
        )

    def _execute(
        self,
        tool: str,
        tool_args: Any,
        build: Callable[[], list[str]],
        *,
        command: str | None = None,
        tool_call_id: str | None = None,
    ) -> str:
        started = time.monotonic()
        settings = self._connection.settings
        with tool_step(tool, tool_args, tool_call_id=tool_call_id) as step:
            attributes: dict[str, Any] = {
                keys.SSH_HOST: settings.host,
                keys.SSH_PORT: settings.port,
                keys.SSH_USER: settings.user,
            }
            if command is not None:
                attributes[keys.SSH_COMMAND] = command
            argv: list[str] | None = None
            error: SSHToolError | None = None
            result: CommandResult | None = None
            try:
                argv = build()
                self._check_restart_rate(argv)
                result = self._connection.run(argv)
            except SSHToolError as exc:
                error = exc
            except Exception as exc:  # the agent gets text, never a crash; logged
                logger.exception("%s failed unexpectedly", tool)
                error = SSHToolError(f"unexpected {type(exc).__name__}: {exc}")
            # null when no argv was built (e.g. a command line that did not pass the policy)
            attributes[keys.SSH_ARGV] = json.dumps(argv)
            # Plain text before anything else: colour codes hide secrets from redaction.
            text = plain_text(self._result_text(result, error))
            if argv is not None and argv[1:2] == ["inspect"]:
                # Env values never reach the agent or the trail, whichever tool ran inspect.
                text = redact_inspect_env(text)
            attributes |= _decision_attributes(result, error)
            encoded = text.encode("utf-8", errors="replace")
            attributes |= {
                keys.SSH_DURATION_MS: round((time.monotonic() - started) * 1000, 3),
                keys.SSH_OUTPUT_BYTES: len(encoded),
                keys.SSH_OUTPUT_SHA256: hashlib.sha256(encoded).hexdigest(),
            }
            for key, value in attributes.items():
                step.set_attribute(key, value)
            step.set_result(text)
            if error is not None:
                step.set_error(error)
        return text

    def _result_text(
        self,
        result: CommandResult | None,
        error: SSHToolError | None,
    ) -> str:
        if error is not None:
            text = _ERROR_PREFIX + str(error)
            output = error.output if isinstance(error, CommandTimeout) else b""
            if isinstance(error, NonZeroExit):
                output = error.stdout
            if output:
                text += "\n" + output.decode("utf-8", errors="replace")
            return text
        assert result is not None
        text = result.text
        if result.stderr:
            # docker logs relays the container's stderr here; keep it, labelled.
            text += "\n--- stderr ---\n" + result.stderr.decode("utf-8", errors="replace")
        return text

    def _check_restart_rate(self, argv: list[str]) -> None:
        policy = self._connection.policy
        if self._restart_min_interval_s <= 0 or argv[1:2] != ["restart"]:
            return
        if isinstance(check_argv(argv, policy), Refusal):
            return  # the connection refuses it with the policy's reason
        now = self._clock()
        with self._restart_lock:
            containers = positional_arguments(argv, policy)
            for container in containers:
                last = self._last_restart.get(container)
                if last is not None and now - last < self._restart_min_interval_s:
                    wait_s = self._restart_min_interval_s - (now - last)
                    raise RateLimited(
                        f"{container} was restarted {now - last:.0f} s ago; restarts of one "
                        f"container are at least {self._restart_min_interval_s:g} s apart "
                        f"(retry in {wait_s:.0f} s)",
                        container=container,
                        retry_after_s=wait_s,
                    )
            # Counted when sent, so a restart that failed or timed out still counts.
            for container in containers:
                self._last_restart[container] = now


# --- argv builders: arguments as the model gave them -> the docker argv -----------------


def _require_text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise PolicyRefused(f"{name!r} must be a string")
    return value


def _build_ps(policy: Policy, all: Any = False) -> list[str]:
    if not isinstance(all, bool):
        raise PolicyRefused("'all' must be true or false")
    return ["docker", "ps", "--all"] if all else ["docker", "ps"]


def _build_logs(policy: Policy, container: Any, tail: Any = 50, since: Any = None) -> list[str]:
    container = _require_text("container", container)
    if isinstance(tail, bool) or not isinstance(tail, int | str):
        raise PolicyRefused("'tail' must be an integer")
    argv = ["docker", "logs", "--tail", str(tail)]
    if since is not None:
        argv += ["--since", _require_text("since", since)]
    return [*argv, container]


def _build_inspect(policy: Policy, container: Any) -> list[str]:
    return ["docker", "inspect", _require_text("container", container)]


def _build_stats(policy: Policy, container: Any = None) -> list[str]:
    argv = ["docker", "stats", "--no-stream"]
    return argv if container is None else [*argv, _require_text("container", container)]


def _build_restart(policy: Policy, container: Any) -> list[str]:
    return ["docker", "restart", _require_text("container", container)]


def _build_from_command_line(policy: Policy, command: Any) -> list[str]:
    command = _require_text("command", command)
    decision = evaluate(command, policy)
    if isinstance(decision, Refusal):
        raise PolicyRefused(decision.reason, command=command)
    return list(decision)


_BUILDERS: dict[str, Callable[..., list[str]]] = {
    "docker_ps": _build_ps,
    "docker_logs": _build_logs,
    "docker_inspect": _build_inspect,
    "docker_stats": _build_stats,
    "docker_restart": _build_restart,
    "run_on_server": _build_from_command_line,
}


def _decision_attributes(
    result: CommandResult | None, error: SSHToolError | None
) -> dict[str, Any]:
    if isinstance(error, PolicyRefused):
        attributes: dict[str, Any] = {
            keys.SSH_DECISION: keys.DECISION_REFUSED,
            keys.SSH_REASON: error.reason,
            keys.SSH_REFUSED_BY: error.layer,
            keys.SSH_ERROR_TYPE: type(error).__name__,
        }
        if error.layer == "gateway":
            attributes[keys.SSH_EXIT_CODE] = EXIT_REFUSED
        return attributes
    attributes = {keys.SSH_DECISION: keys.DECISION_ALLOWED, keys.SSH_REASON: "allowed by policy"}
    if result is not None:
        attributes[keys.SSH_EXIT_CODE] = result.exit_code
        attributes[keys.SSH_OUTPUT_CUT] = result.stdout_cut
    if isinstance(error, NonZeroExit):
        attributes[keys.SSH_EXIT_CODE] = error.exit_code
    if isinstance(error, CommandTimeout) and error.on_server:
        attributes[keys.SSH_EXIT_CODE] = EXIT_TIMEOUT
    if error is not None:
        attributes[keys.SSH_ERROR_TYPE] = type(error).__name__
    return attributes
