"""``agent-audit agent``: serve ``POST /agent/run`` until SIGINT or SIGTERM.

The settings are checked before the heavy imports (the OpenAI client, FastAPI,
paramiko), so a bad value is reported at once.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from agent.errors import AgentError
from agent.log_redaction import redact_log_handlers
from agent.settings import AgentSettings, without_credentials
from instrumentation import env as E
from instrumentation.redaction import Redactor
from ssh_tools.errors import SSHToolError

__all__ = ["add_arguments", "run"]

logger = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommand's flags; each wins over its environment variable."""
    parser.add_argument(
        "--host", help=f"address to bind (default: ${E.AGENT_HOST.name} or {E.AGENT_HOST.default})"
    )
    parser.add_argument(
        "--port",
        type=int,
        help=f"port (default: ${E.AGENT_PORT.name} or {E.AGENT_PORT.default}; 0 picks one)",
    )
    parser.add_argument("--model", help=f"default model (default: ${E.LLM_MODEL.name})")
    parser.add_argument(
        "--llm-base-url", help=f"OpenAI-compatible API URL (default: ${E.LLM_BASE_URL.name})"
    )
    parser.add_argument(
        "--tools-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE at start to register Python tools (repeatable)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")


def _settings(args: argparse.Namespace) -> AgentSettings:
    settings = AgentSettings.from_env()
    overrides: dict[str, object] = {}
    for flag, field_name in (
        ("host", "host"),
        ("port", "port"),
        ("model", "llm_model"),
        ("llm_base_url", "llm_base_url"),
    ):
        if getattr(args, flag) is not None:
            overrides[field_name] = getattr(args, flag)
    if args.tools_module:
        overrides["tool_modules"] = (*settings.tool_modules, *args.tools_module)
    return settings.with_overrides(**overrides)


def run(args: argparse.Namespace) -> int:
    """Start the service; returns the exit code."""
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = _settings(args)
        redactor = Redactor(settings.redaction)
        redact_log_handlers(redactor)
        from agent.service import AgentService, configure_tracing, import_tool_modules

        import_tool_modules(settings.tool_modules)
        configure_tracing(settings)
        service = AgentService(settings)
    except (AgentError, SSHToolError, ValueError) as exc:
        print(f"agent-audit agent: {exc}", file=sys.stderr)
        return 2

    from agent.app import create_app
    from instrumentation import shutdown

    tools = ", ".join(service.toolbox.names()) or "none"
    print(
        f"agent-audit agent on {settings.host}:{settings.port} model={settings.llm_model} "
        f"at {without_credentials(settings.llm_base_url)} tools: {tools}",
        flush=True,
    )
    try:
        _serve(create_app(service), settings, redactor, log_level=str(args.log_level).lower())
    finally:
        service.close(wait=False)
        shutdown()
    print("agent-audit agent stopped", flush=True)
    return 0


def _serve(app: Any, settings: AgentSettings, redactor: Redactor, *, log_level: str) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, except that a stop signal only stops it.

        uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, which would
        end the process before the service flushes its spans.
        """

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            originals = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
            try:
                yield
            finally:
                for sig, handler in originals.items():
                    signal.signal(sig, handler)

    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=log_level, access_log=False
    )
    redact_log_handlers(redactor)  # uvicorn's handlers exist once its config is built
    # SIGINT/SIGTERM: stop taking requests, let the answers in flight finish.
    Server(config).run()
