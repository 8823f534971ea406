"""A recording stand-in for a chat's incoming webhook (Slack/Mattermost style)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.support import serving


@pytest.fixture
def chat_webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """``(url, received)``: every JSON body POSTed to ``url`` is appended to ``received``."""
    with serve_chat() as chat:
        yield chat


@contextmanager
def serve_chat() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The recording chat webhook, for as long as the ``with`` block lasts."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # name fixed by http.server
            length = int(self.headers.get("Content-Length") or 0)
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    with serving(Handler) as url:
        yield f"{url}/hooks/agent", received
