"""``agent-audit dashboard``: run the Streamlit app against a collector's REST API.

Streamlit runs in a child process (``python -m streamlit run dashboard/app.py``);
the API URL and token reach it through the environment (AGENT_AUDIT_API,
AGENT_AUDIT_TOKEN). SIGINT and SIGTERM are passed on, so stopping this command
stops the server.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from dashboard.processes import Supervisor
from dashboard.settings import API_URL_ENV, DEFAULT_API_URL, DashboardSettingsError, check_api_url
from instrumentation import env as E

__all__ = ["add_arguments", "dashboard_env", "run", "streamlit_command"]

logger = logging.getLogger(__name__)

APP_PATH = Path(__file__).resolve().parent / "app.py"
# What ``streamlit run`` serves: app.py inside an ASGI app that adds the base-URL hint.
SERVED_PATH = APP_PATH.parent / "web_app.py"


def _served_path() -> Path:
    """web_app.py where Streamlit has ``st.App`` (its ``streamlit/starlette.py``), else app.py.

    Looked up without importing Streamlit, which would slow this command's start.
    """
    spec = importlib.util.find_spec("streamlit")
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    has_app = origin is not None and (origin.parent / "starlette.py").is_file()
    return SERVED_PATH if has_app else APP_PATH


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``agent-audit dashboard``."""
    parser.add_argument(
        "--api",
        metavar="URL",
        help=f"the collector's REST API (default: ${API_URL_ENV} or {DEFAULT_API_URL})",
    )
    parser.add_argument("--port", type=int, default=8501, help="dashboard port (default 8501)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind the dashboard (default 127.0.0.1)"
    )


def streamlit_command(host: str, port: int) -> list[str]:
    """The command line that serves the app headless on ``host:port``."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(_served_path()),
        "--server.headless",
        "true",
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--server.fileWatcherType",
        "none",
        # Streamlit's default full garbage collection after every script run took
        # ~0.5 s of CPU per page load and per live refresh here (pandas and Altair on
        # the heap); Python's own generational collector still runs.
        "--runner.postScriptGC",
        "false",
        # Pages display nothing by bare expressions; without "magic" each run skips
        # rewriting the page's syntax tree before compiling it.
        "--runner.magicEnabled",
        "false",
    ]


def dashboard_env(api_url: str, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The child's environment: the API URL, and ``dashboard`` importable from anywhere."""
    env = dict(base)
    env[API_URL_ENV] = api_url
    package_root = str(APP_PATH.parent.parent)
    current = env.get("PYTHONPATH")
    env["PYTHONPATH"] = package_root if not current else f"{package_root}{os.pathsep}{current}"
    return env


def run(args: argparse.Namespace) -> int:
    """Serve the dashboard until interrupted; the exit code is Streamlit's."""
    try:
        api_url = check_api_url(args.api, name="--api") if args.api else check_api_url(E.api_url())
    except DashboardSettingsError as exc:
        print(f"agent-audit dashboard: {exc}", file=sys.stderr)
        return 2
    if args.host not in {"127.0.0.1", "localhost", "::1"}:
        print(
            f"agent-audit dashboard: warning: listening on {args.host}; the dashboard has no "
            "login of its own, so anyone who can reach this port can read every run.",
            file=sys.stderr,
        )
    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    supervisor.start(
        "dashboard", streamlit_command(args.host, args.port), env=dashboard_env(api_url)
    )
    print(f"agent-audit dashboard on http://{args.host}:{args.port} reading {api_url}", flush=True)
    ended = supervisor.wait()
    codes = supervisor.stop_all()
    if ended is None:  # stopped by a signal: a clean stop
        return 0
    return codes.get("dashboard", ended.code) or 0
