"""A request the REST client cannot send (a URL past httpx's 64k characters) is the
client's own error, saying so, not httpx's: the CLI and the dashboard show it as such."""

from __future__ import annotations

import pytest

from collector.client import AuditClient, RequestNotSent, RunFilters
from tests.conftest import CollectorHandle


def test_a_value_too_long_for_a_url_is_a_client_error_and_nothing_is_sent(
    collector: CollectorHandle,
) -> None:
    with AuditClient(collector.api_url) as client:
        with pytest.raises(RequestNotSent, match="cannot be sent.*too long"):
            client.list_runs(RunFilters(agent_name="<" * 70_000))
        with pytest.raises(RequestNotSent, match="cannot be sent"):
            client.get_run("r" * 70_000)
        with pytest.raises(RequestNotSent, match="cannot be sent"):
            client.stats(RunFilters(text="x" * 70_000))
        assert client.health()["status"] == "ok"
        assert client.list_runs(RunFilters(agent_name="<" * 100)).runs == []
