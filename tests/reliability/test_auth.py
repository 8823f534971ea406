"""AGENT_AUDIT_TOKEN: every OTLP and REST path refuses a missing or wrong token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from bench.reliability.harness import EXPORT_METHOD, CollectorProcess, build_run_request
from collector.settings import Settings, SettingsError
from tests.conftest import CollectorHandle, start_test_collector

TOKEN = "s3cret-token-for-tests-0123456789"
WRONG = {
    "none": None,
    "wrong": "Bearer not-the-token",
    "prefix": f"Bearer {TOKEN[:-1]}",
    "longer": f"Bearer {TOKEN}x",
    "other-scheme": f"Basic {TOKEN}",
    "bare": TOKEN,
    "empty": "Bearer",
}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    handle = start_test_collector(tmp_path_factory.mktemp("auth") / "auth.duckdb", token=TOKEN)
    try:
        yield handle
    finally:
        handle.stop()


def _headers(authorization: str | None) -> dict[str, str]:
    return {"authorization": authorization} if authorization is not None else {}


def _stored(handle: CollectorHandle) -> int:
    return int(handle.query("SELECT count(*) FROM spans")[0][0])


REST_CALLS = [
    ("GET", "/agent/runs", None),
    ("GET", "/agent/runs/stats", None),
    ("GET", "/agent/runs/run-1-1", None),
    ("GET", "/agent/runs/run-1-1/steps", None),
    ("POST", "/agent/runs/run-1-1/cancel", {"requested_by": "test"}),
    ("GET", "/agent/cancel-requests?run_id=run-1-1", None),
    ("POST", "/sql", {"sql": "SELECT count(*) FROM spans"}),
    ("GET", "/export", None),
    ("GET", "/backup", None),
    ("GET", "/verify", None),
    ("GET", "/docs", None),
    ("GET", "/openapi.json", None),
]


@pytest.mark.parametrize("case", sorted(WRONG))
def test_otlp_http_refuses_missing_or_wrong_token(guarded: CollectorHandle, case: str) -> None:
    before = _stored(guarded)
    body = build_run_request(50, hash(case) % 1000, 2).protobuf()
    response = httpx.post(
        guarded.http_endpoint + "/v1/traces",
        content=body,
        headers={"content-type": "application/x-protobuf", **_headers(WRONG[case])},
    )
    assert response.status_code == 401
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
    assert _stored(guarded) == before


@pytest.mark.parametrize("case", sorted(WRONG))
def test_otlp_grpc_refuses_missing_or_wrong_token(guarded: CollectorHandle, case: str) -> None:
    before = _stored(guarded)
    metadata = (("authorization", WRONG[case]),) if WRONG[case] is not None else ()
    with grpc.insecure_channel(f"127.0.0.1:{guarded.grpc_port}") as channel:
        export = channel.unary_unary(EXPORT_METHOD)
        with pytest.raises(grpc.RpcError) as caught:
            export(build_run_request(51, 1, 2).protobuf(), metadata=metadata, timeout=10)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert _stored(guarded) == before


@pytest.mark.parametrize(("method", "path", "body"), REST_CALLS)
def test_rest_api_refuses_missing_or_wrong_token(
    guarded: CollectorHandle, method: str, path: str, body: object
) -> None:
    for case, authorization in WRONG.items():
        response = httpx.request(
            method, guarded.api_url + path, json=body, headers=_headers(authorization)
        )
        assert response.status_code == 401, (case, response.text)
        assert "detail" in response.json()


def test_the_right_token_works_everywhere(guarded: CollectorHandle) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    request = build_run_request(52, 1, 3)
    response = httpx.post(
        guarded.http_endpoint + "/v1/traces",
        content=request.protobuf(),
        headers={"content-type": "application/x-protobuf", **auth},
    )
    assert response.status_code == 200
    with grpc.insecure_channel(f"127.0.0.1:{guarded.grpc_port}") as channel:
        export = channel.unary_unary(EXPORT_METHOD)
        export(build_run_request(52, 2, 3).protobuf(), metadata=tuple(auth.items()), timeout=10)
    # Scheme case and surrounding spaces are tolerated (RFC 7235: the scheme is case-insensitive).
    lower = {"authorization": f"bearer   {TOKEN}"}
    runs = httpx.get(guarded.api_url + "/agent/runs", headers=lower)
    assert runs.status_code == 200
    assert {"run-52-1", "run-52-2"} <= {r["id"] for r in runs.json()["runs"]}
    sql = httpx.post(
        guarded.api_url + "/sql",
        json={"sql": "SELECT count(*) FROM spans WHERE name LIKE 'invoke_agent%'"},
        headers=auth,
    )
    assert sql.status_code == 200
    assert sql.json()["rows"][0][0] >= 2
    assert httpx.get(guarded.api_url + "/agent/runs/run-52-1", headers=auth).status_code == 200


def test_health_stays_open_and_says_nothing_secret(guarded: CollectorHandle) -> None:
    response = httpx.get(guarded.api_url + "/healthz")
    assert response.status_code == 200
    assert TOKEN not in response.text


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])  # noqa: S104
def test_non_loopback_without_a_token_is_refused(host: str) -> None:
    with pytest.raises(SettingsError, match="without a token"):
        Settings.from_env({"AGENT_AUDIT_HOST": host})
    Settings.from_env({"AGENT_AUDIT_HOST": host, "AGENT_AUDIT_TOKEN": TOKEN})  # allowed


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_without_a_token_is_allowed(host: str) -> None:
    assert Settings.from_env({"AGENT_AUDIT_HOST": host}).host == host


def test_cli_refuses_a_public_host_from_the_environment(tmp_path: Path) -> None:
    # The ingest tests cover --host; the environment variable must be checked as strictly.
    collector = CollectorProcess(
        tmp_path / "x.duckdb", log_dir=tmp_path / "logs", env={"AGENT_AUDIT_HOST": "0.0.0.0"}
    )
    assert collector.run_to_exit() == 2
    assert "without a token" in collector.stderr_text()
    assert not (tmp_path / "x.duckdb").exists()
