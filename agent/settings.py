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
by :func:`instrumentation.configure`.
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
from instrumentation.security import is_loopback
from ssh_tools.errors import SettingsError as SSHSettingsError
from ssh_tools.settings import SSHSettings

__all__ = ["AgentSettings", "is_loopback"]

DEFAULT_BASE_URL = "http://127.0.0.1:11434/v1"
DEFAULT_MODEL = "qwen2.5-coder"


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
    system_prompt: str | None = None
    tool_modules: tuple[str, ...] = ()
    data_dir: Path = Path("~/.local/share/agent-audit/agent").expanduser()
    spool_dir: Path | None = None  # None: no spool
    ssh: SSHSettings | None = None  # None: no SSH tools

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AgentSettings:
        """Read the variables; a bad value raises :class:`SettingsError` naming it."""
        data_dir = _path(env.get("AGENT_AUDIT_AGENT_DATA_DIR", "")) or cls.data_dir
        spool_dir: Path | None = None
        if _bool(env, "AGENT_AUDIT_AGENT_SPOOL", True):
            spool_dir = _path(env.get("AGENT_AUDIT_SPOOL_DIR", "")) or data_dir / "spool"
        return cls(
            llm_base_url=_text(env, "AGENT_AUDIT_LLM_BASE_URL", DEFAULT_BASE_URL),
            llm_api_key=_text(env, "AGENT_AUDIT_LLM_API_KEY", "unused"),
            llm_model=_text(env, "AGENT_AUDIT_LLM_MODEL", DEFAULT_MODEL),
            llm_provider=env.get("AGENT_AUDIT_LLM_PROVIDER", "").strip() or None,
            llm_backend=env.get("AGENT_AUDIT_LLM_BACKEND", "").strip() or None,
            llm_timeout_s=_float(env, "AGENT_AUDIT_LLM_TIMEOUT_S", 120.0),
            llm_max_retries=_int(env, "AGENT_AUDIT_LLM_MAX_RETRIES", 1, low=0, high=5),
            host=_text(env, "AGENT_AUDIT_AGENT_HOST", "127.0.0.1"),
            port=_int(env, "AGENT_AUDIT_AGENT_PORT", 8000, low=0, high=65535),
            token=E.TOKEN.read(env),
            agent_name=_text(env, "AGENT_AUDIT_AGENT_NAME", "container-ops"),
            max_steps=_int(env, "AGENT_AUDIT_AGENT_MAX_STEPS", 15, low=1, high=10_000),
            max_steps_limit=_int(env, "AGENT_AUDIT_AGENT_MAX_STEPS_LIMIT", 100, low=1, high=10_000),
            max_concurrent=_int(env, "AGENT_AUDIT_AGENT_MAX_CONCURRENT", 4, low=1, high=1024),
            max_tool_result_chars=_int(
                env, "AGENT_AUDIT_AGENT_MAX_TOOL_RESULT_CHARS", 16_000, low=500, high=10_000_000
            ),
            system_prompt=_prompt_file(env, "AGENT_AUDIT_AGENT_SYSTEM_PROMPT_FILE"),
            tool_modules=tuple(
                name.strip()
                for name in env.get("AGENT_AUDIT_AGENT_TOOL_MODULES", "").split(",")
                if name.strip()
            ),
            data_dir=data_dir,
            spool_dir=spool_dir,
            ssh=_ssh_settings(env),
        )

    def with_overrides(self, **changes: object) -> AgentSettings:
        """A copy with some fields changed (command-line flags win over the environment)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> None:
        """Refuse values that cannot work or are unsafe; the message names the variable."""
        url = urllib.parse.urlsplit(self.llm_base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise SettingsError(
                "AGENT_AUDIT_LLM_BASE_URL", f"must be an http(s) URL, got {self.llm_base_url!r}"
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
    if not env.get("AGENT_AUDIT_SSH_HOST", "").strip():
        return None
    try:
        return SSHSettings.from_env(env)
    except SSHSettingsError as exc:
        raise SettingsError(exc.variable, str(exc).split(": ", 1)[-1]) from None


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name)
    if value is None or value == "":
        return default
    if not value.strip():
        raise SettingsError(name, "is blank")
    return value.strip()


def _path(text: str) -> Path | None:
    return Path(text.strip()).expanduser() if text.strip() else None


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(name, f"must be from {low} to {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, f"must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise SettingsError(name, f"must be a positive number of seconds, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(name, f"must be true or false, got {raw!r}")


def _prompt_file(env: Mapping[str, str], name: str) -> str | None:
    path = _path(env.get(name, ""))
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(name, f"cannot be read: {exc}") from None
    if not text.strip():
        raise SettingsError(name, f"{path} is empty")
    return text
