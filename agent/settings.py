"""Settings of the agent service, read once from the environment into a frozen object.

Variables (default in brackets):

- ``AGENT_AUDIT_LLM_BASE_URL``: OpenAI-compatible API: Ollama, llama.cpp, vLLM, OpenAI
  [``http://127.0.0.1:11434/v1``]
- ``AGENT_AUDIT_LLM_API_KEY``: its API key; local servers ignore it [``unused``]
- ``AGENT_AUDIT_LLM_MODEL``: the model asked when a request names none [``qwen2.5-coder``]
- ``AGENT_AUDIT_LLM_PROVIDER``: ``gen_ai.provider.name``: ollama, vllm, openai, ... [unset]
- ``AGENT_AUDIT_LLM_BACKEND``: the machine or pool serving the model (``agent_run.backend``)
  [unset]
- ``AGENT_AUDIT_LLM_TIMEOUT_S``: time limit of one model call [120]
- ``AGENT_AUDIT_LLM_MAX_RETRIES``: retries of a failed model call, 0-5 [1]
- ``AGENT_AUDIT_AGENT_HOST`` / ``AGENT_AUDIT_AGENT_PORT``: where ``POST /agent/run`` listens
  [127.0.0.1 / 8000]
- ``AGENT_AUDIT_TOKEN``: bearer token required on ``POST /agent/run``, also sent to the
  collector; needed to listen beyond loopback [unset]
- ``AGENT_AUDIT_AGENT_NAME``: ``gen_ai.agent.name`` of the runs [``container-ops``]
- ``AGENT_AUDIT_AGENT_MAX_STEPS``: model calls per run unless a request says otherwise [15]
- ``AGENT_AUDIT_AGENT_MAX_STEPS_LIMIT``: the most a request may ask for [100]
- ``AGENT_AUDIT_AGENT_MAX_CONCURRENT``: runs at once; more are answered 429 [4]
- ``AGENT_AUDIT_AGENT_MAX_TOOL_RESULT_CHARS``: tool output handed to the model, cut beyond
  (the audit trail keeps it whole) [16000]
- ``AGENT_AUDIT_AGENT_MAX_TOOL_CALLS_PER_TURN``: tool calls run per model answer; the
  others are answered "not run" and recorded as one refused step [64]
- ``AGENT_AUDIT_AGENT_SYSTEM_PROMPT_FILE``: replaces the built-in system prompt [unset]
- ``AGENT_AUDIT_AGENT_TOOL_MODULES``: comma-separated modules imported at start, which call
  ``register_tool`` [unset]
- ``AGENT_AUDIT_AGENT_DATA_DIR``: the service's data directory, home of the span spool
  [``~/.local/share/agent-audit/agent``]
- ``AGENT_AUDIT_AGENT_SPOOL``: keep spans on disk while the collector is down [true]
- ``AGENT_AUDIT_SPOOL_DIR``: the spool directory itself [``<data dir>/spool``]
- ``AGENT_AUDIT_SSH_HOST`` and the other ``AGENT_AUDIT_SSH_*``: when the host is set, the SSH
  docker tools are offered (see :mod:`ssh_tools.settings`) [unset]

Where spans go (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``AGENT_AUDIT_API``, ...) is read
by :func:`instrumentation.configure`. The ``AGENT_AUDIT_REDACT*`` variables that
redact the spans also redact the answers of ``POST /agent/run``.
"""

from __future__ import annotations

import math
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from agent.errors import SettingsError
from instrumentation import env as E
from instrumentation.redaction import RedactionPolicy
from instrumentation.security import is_loopback
from instrumentation.span_redaction import policy_from_env
from ssh_tools.errors import SettingsError as SSHSettingsError
from ssh_tools.settings import SSHSettings

__all__ = ["AgentSettings", "is_loopback", "without_credentials"]

DEFAULT_BASE_URL: str = E.LLM_BASE_URL.default
DEFAULT_MODEL: str = E.LLM_MODEL.default


@dataclass(frozen=True, kw_only=True)
class AgentSettings:
    """Everything the agent service needs; see the module docstring for the variables."""

    llm_base_url: str = DEFAULT_BASE_URL
    llm_api_key: str = field(default="unused", repr=False)
    llm_model: str = DEFAULT_MODEL
    llm_provider: str | None = None
    llm_backend: str | None = None
    llm_timeout_s: float = 120.0
    llm_max_retries: int = 1
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = field(default=None, repr=False)
    agent_name: str = "container-ops"
    max_steps: int = 15
    max_steps_limit: int = 100
    max_concurrent: int = 4
    max_tool_result_chars: int = 16_000
    max_tool_calls_per_turn: int = 64
    system_prompt: str | None = None
    tool_modules: tuple[str, ...] = ()
    data_dir: Path = Path("~/.local/share/agent-audit/agent").expanduser()
    spool_dir: Path | None = None  # None: no spool
    ssh: SSHSettings | None = None  # None: no SSH tools
    # What the answers of POST /agent/run lose, as the spans do: they hold the same text.
    redaction: RedactionPolicy = field(default_factory=RedactionPolicy, repr=False)

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AgentSettings:
        """Read the variables; a bad value raises :class:`SettingsError` naming it."""
        try:
            return cls._read(env)
        except E.EnvError as exc:
            raise SettingsError(exc.variable, exc.problem) from None

    @classmethod
    def _read(cls, env: Mapping[str, str]) -> AgentSettings:
        data_dir = _path(E.AGENT_DATA_DIR.read(env)) or cls.data_dir
        spool_dir: Path | None = None
        if E.AGENT_SPOOL.read(env):
            spool_dir = _path(E.SPOOL_DIR.read(env)) or data_dir / "spool"
        return cls(
            llm_base_url=E.LLM_BASE_URL.read(env),
            llm_api_key=E.LLM_API_KEY.read(env),
            llm_model=E.LLM_MODEL.read(env),
            llm_provider=E.LLM_PROVIDER.read(env),
            llm_backend=E.LLM_BACKEND.read(env),
            llm_timeout_s=E.LLM_TIMEOUT_S.read(env),
            llm_max_retries=E.LLM_MAX_RETRIES.read(env),
            host=E.AGENT_HOST.read(env),
            port=E.AGENT_PORT.read(env),
            token=E.TOKEN.read(env),
            agent_name=E.AGENT_NAME.read(env),
            max_steps=E.AGENT_MAX_STEPS.read(env),
            max_steps_limit=E.AGENT_MAX_STEPS_LIMIT.read(env),
            max_concurrent=E.AGENT_MAX_CONCURRENT.read(env),
            max_tool_result_chars=E.AGENT_MAX_TOOL_RESULT_CHARS.read(env),
            max_tool_calls_per_turn=E.AGENT_MAX_TOOL_CALLS_PER_TURN.read(env),
            system_prompt=_prompt_file(E.AGENT_SYSTEM_PROMPT_FILE, env),
            tool_modules=E.AGENT_TOOL_MODULES.read(env),
            data_dir=data_dir,
            spool_dir=spool_dir,
            ssh=_ssh_settings(env),
            redaction=policy_from_env(env),
        )

    def with_overrides(self, **changes: object) -> AgentSettings:
        """A copy with some fields changed (command-line flags win over the environment)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> None:
        """Refuse values that cannot work or are unsafe; the message names the variable."""
        url = urllib.parse.urlsplit(self.llm_base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise SettingsError(
                "AGENT_AUDIT_LLM_BASE_URL",
                f"must be an http(s) URL, got {without_credentials(self.llm_base_url)!r}",
            )
        if not self.llm_model.strip():
            raise SettingsError("AGENT_AUDIT_LLM_MODEL", "must not be empty")
        if not math.isfinite(self.llm_timeout_s) or self.llm_timeout_s <= 0:
            raise SettingsError("AGENT_AUDIT_LLM_TIMEOUT_S", "must be a positive number")
        if not 0 <= self.port <= 65535:
            raise SettingsError("AGENT_AUDIT_AGENT_PORT", f"{self.port} is not a TCP port")
        if self.max_steps > self.max_steps_limit:
            raise SettingsError(
                "AGENT_AUDIT_AGENT_MAX_STEPS",
                f"({self.max_steps}) exceeds AGENT_AUDIT_AGENT_MAX_STEPS_LIMIT "
                f"({self.max_steps_limit})",
            )
        if self.max_concurrent < 1:
            raise SettingsError("AGENT_AUDIT_AGENT_MAX_CONCURRENT", "must be at least 1")
        if not self.token and not is_loopback(self.host):
            raise SettingsError(
                "AGENT_AUDIT_AGENT_HOST",
                f"is {self.host}: refusing to listen beyond loopback without a token; "
                "set AGENT_AUDIT_TOKEN or bind to 127.0.0.1",
            )


def _ssh_settings(env: Mapping[str, str]) -> SSHSettings | None:
    if not E.SSH_HOST.read(env):
        return None
    try:
        return SSHSettings.from_env(env)
    except SSHSettingsError as exc:
        raise SettingsError(exc.variable, str(exc).split(": ", 1)[-1]) from None


def _path(text: str | None) -> Path | None:
    return Path(text.strip()).expanduser() if text and text.strip() else None


def _prompt_file(variable: E.Variable, env: Mapping[str, str]) -> str | None:
    path = _path(variable.read(env))
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(variable.name, f"cannot be read: {exc}") from None
    if not text.strip():
        raise SettingsError(variable.name, f"{path} is empty")
    return text


def without_credentials(url: str) -> str:
    """``url`` without the ``user:password@`` part, for messages, logs and ``/healthz``."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
