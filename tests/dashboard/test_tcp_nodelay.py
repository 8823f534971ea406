"""The dashboard's listening socket gets TCP_NODELAY, and its connections inherit it.

Streamlit binds its socket with protocol number 0, so asyncio leaves Nagle's
algorithm on for every connection (dashboard/tcp_nodelay.py). These tests make a
listener the same way and check what a connection accepted from it gets.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from dashboard.tcp_nodelay import NoDelay, listening_tcp_sockets, set_nodelay_on_listeners

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/fd (Linux)")


@contextmanager
def streamlit_like_listener() -> Iterator[socket.socket]:
    listener = socket.socket(family=socket.AF_INET)  # as Streamlit's _bind_socket does
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener
    finally:
        listener.close()


def accepted_nodelay(listener: socket.socket) -> int:
    with socket.create_connection(listener.getsockname()):
        accepted, _ = listener.accept()
        with accepted:
            return accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_a_streamlit_like_listener_leaves_nagle_on_until_set() -> None:
    with streamlit_like_listener() as listener:
        assert listener.proto == 0  # why asyncio does not set TCP_NODELAY itself
        assert accepted_nodelay(listener) == 0
        assert listener.fileno() in listening_tcp_sockets()
        assert set_nodelay_on_listeners() >= 1
        assert accepted_nodelay(listener) == 1
        # The listener itself is still open and listening (only a duplicate was closed).
        assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1


def test_connected_sockets_are_not_taken_for_listeners() -> None:
    with (
        streamlit_like_listener() as listener,
        socket.create_connection(listener.getsockname()) as client,
    ):
        accepted, _ = listener.accept()
        with accepted:
            found = listening_tcp_sockets()
            assert listener.fileno() in found
            assert client.fileno() not in found and accepted.fileno() not in found


def test_the_middleware_sets_it_when_the_server_starts() -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def nothing() -> dict[str, Any]:
        return {}

    async def ignore(message: Any) -> None:
        return None

    with streamlit_like_listener() as listener:
        middleware = NoDelay(app)
        asyncio.run(middleware({"type": "lifespan"}, nothing, ignore))
        assert middleware.done and seen == ["lifespan"]  # passed on, once set
        assert accepted_nodelay(listener) == 1
