"""A small HTTP client of the collector's REST API, used by the CLI commands.

Errors form one tree::

    ApiClientError
    ├── ApiUnreachable    no HTTP answer (refused, timed out, not the collector)
    └── ApiError          an HTTP error answer; ``.status_code`` and ``.detail``
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import quote

import httpx

__all__ = [
    "DEFAULT_API",
    "ApiClientError",
    "ApiUnreachable",
    "ApiError",
    "ApiClient",
    "default_api_url",
]

DEFAULT_API = "http://127.0.0.1:4318"

Params = Sequence[tuple[str, str | int]] | Mapping[str, str | int]


def default_api_url(env: Mapping[str, str] = os.environ) -> str:
    """``AGENT_AUDIT_API`` or the local collector's HTTP port."""
    return env.get("AGENT_AUDIT_API") or DEFAULT_API


class ApiClientError(Exception):
    """Root of the client's errors; ``url`` is what was asked."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class ApiUnreachable(ApiClientError):
    """Nothing answered at the API URL, or what answered is not the collector."""


class ApiError(ApiClientError):
    """The collector answered with an error status."""

    def __init__(self, message: str, *, url: str, status_code: int, detail: str) -> None:
        super().__init__(message, url=url)
        self.status_code = status_code
        self.detail = detail


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    raw = body.get("detail") if isinstance(body, dict) else body
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list):  # FastAPI's validation errors
        parts = []
        for item in raw:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", [])[1:])
                parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
        if parts:
            return "; ".join(parts)
    return json.dumps(raw)


def _query(params: Params | None) -> tuple[tuple[str, str | int], ...] | None:
    if params is None:
        return None
    return tuple(params.items()) if isinstance(params, Mapping) else tuple(params)


class ApiClient:
    """Typed calls to the REST API; one connection pool, closed by ``close()``."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout_s: float = 30.0):
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "agent-audit-cli"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=httpx.Timeout(timeout_s)
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- endpoints ----------------------------------------------------------------------
    def list_runs(self, params: Params) -> dict[str, Any]:
        """``GET /agent/runs``."""
        return self._json("GET", "/agent/runs", params=params)

    def stats(self, params: Params) -> dict[str, Any]:
        """``GET /agent/runs/stats``."""
        return self._json("GET", "/agent/runs/stats", params=params)

    def get_run(self, run_id: str) -> dict[str, Any]:
        """``GET /agent/runs/{id}``: the run with its steps."""
        return self._json("GET", f"/agent/runs/{quote(run_id, safe='')}")

    def get_steps(self, run_id: str, after_step: int) -> list[dict[str, Any]]:
        """``GET /agent/runs/{id}/steps?after_step=N``."""
        body = self._json(
            "GET", f"/agent/runs/{quote(run_id, safe='')}/steps", params={"after_step": after_step}
        )
        return list(body.get("steps") or [])

    def cancel(
        self, run_id: str, *, requested_by: str | None, reason: str | None
    ) -> dict[str, Any]:
        """``POST /agent/runs/{id}/cancel``."""
        body = {"requested_by": requested_by, "reason": reason}
        return self._json(
            "POST",
            f"/agent/runs/{quote(run_id, safe='')}/cancel",
            json={k: v for k, v in body.items() if v},
        )

    def sql(self, query: str, max_rows: int | None = None) -> dict[str, Any]:
        """``POST /sql``."""
        payload: dict[str, Any] = {"sql": query}
        if max_rows is not None:
            payload["max_rows"] = max_rows
        return self._json("POST", "/sql", json=payload)

    def stream_export(self, fmt: str = "parquet") -> AbstractContextManager[httpx.Response]:
        """``GET /export``: the tar stream, as an open response to read in chunks."""
        return self._stream("/export", {"format": fmt})

    def stream_backup(self) -> AbstractContextManager[httpx.Response]:
        """``GET /backup``: the DuckDB file, as an open response to read in chunks."""
        return self._stream("/backup", {})

    @contextmanager
    def _stream(self, path: str, params: dict[str, str]) -> Iterator[httpx.Response]:
        url = f"{self.base_url}{path}"
        try:
            with self._http.stream(
                "GET", path, params=params, timeout=httpx.Timeout(600.0)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._error(response, url)
                yield response
        except httpx.TransportError as exc:
            raise self._unreachable(exc, url) from exc

    # --- transport ----------------------------------------------------------------------
    def _json(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        try:
            response = self._http.request(method, path, params=_query(params), json=json)
        except httpx.TransportError as exc:
            raise self._unreachable(exc, url) from exc
        if response.status_code >= 400:
            raise self._error(response, url)
        try:
            body = response.json()
        except ValueError:
            raise ApiUnreachable(
                f"{url} did not answer with JSON; is {self.base_url} the collector's HTTP port?",
                url=url,
            ) from None
        if not isinstance(body, dict):
            raise ApiUnreachable(f"{url} answered with unexpected JSON", url=url)
        return body

    def _unreachable(self, exc: httpx.TransportError, url: str) -> ApiUnreachable:
        reason = str(exc) or type(exc).__name__
        return ApiUnreachable(
            f"cannot reach the agent-audit API at {self.base_url} ({reason}); "
            "is the collector running? (agent-audit collector, or --api / AGENT_AUDIT_API)",
            url=url,
        )

    def _error(self, response: httpx.Response, url: str) -> ApiError:
        detail = _detail(response)
        return ApiError(
            f"{response.status_code} from {url}: {detail}",
            url=url,
            status_code=response.status_code,
            detail=detail,
        )
