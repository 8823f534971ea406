"""The HTTP listener answers kept-alive clients without Nagle's delay."""

from __future__ import annotations

import socket

from tests.conftest import CollectorHandle


def test_listener_sets_tcp_nodelay_for_accepted_connections(collector: CollectorHandle) -> None:
    # Connections accepted from it inherit the option (Linux); without it every
    # request after the first on a kept-alive connection waited ~40 ms for the
    # client's delayed ACK (the dashboard and CLI keep connections alive).
    (server,) = collector.running.http_server.servers
    listeners = list(server.sockets)
    assert listeners
    for listener in listeners:
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
