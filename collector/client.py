"""The one typed client of the collector's REST API, used by the CLI, the dashboard and tests.

It imports httpx and the standard library only, so the dashboard can use it
without importing any server code; the caller passes the URL and the token
(read through ``instrumentation.env``: ``api_url()`` and ``TOKEN``). Errors form one tree::

    ClientError                   root; ``.url`` is what was asked
    ├── CollectorUnreachable      no HTTP answer (refused, timed out, not the collector)
    └── ApiError                  an HTTP error answer; ``.status_code`` and ``.detail``
        ├── Unauthorized          401/403: the token is missing or wrong
        ├── NotFound              404
        └── Conflict              409 (e.g. cancelling a run that already ended)
"""

from __future__ import annotations

import json as json_module
import logging
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

__all__ = [
    "ApiError",
    "AuditClient",
    "ClientError",
    "CollectorUnreachable",
    "Conflict",
    "StepPage",
    "NotFound",
    "Record",
    "RequestNotSent",
    "RunFilters",
    "RunPage",
    "SqlResult",
    "Unauthorized",
]

logger = logging.getLogger(__name__)

Record = dict[str, Any]  # one run or step as the API returns it


class ClientError(Exception):
    """Root of the client's errors; carries the URL it was talking to."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class CollectorUnreachable(ClientError):
    """Nothing answered at the API URL, or what answered is not the collector."""


class RequestNotSent(ClientError):
    """The request cannot be sent as asked (httpx refuses a URL past 64k characters: a run
    id or a filter value that long)."""


class ApiError(ClientError):
    """The collector answered with an error status."""

    def __init__(self, message: str, *, url: str, status_code: int, detail: str) -> None:
        super().__init__(message, url=url)
        self.status_code = status_code
        self.detail = detail


class Unauthorized(ApiError):
    """The collector wants a token (AGENT_AUDIT_TOKEN) or refused the one sent."""


class NotFound(ApiError):
    """The thing asked for does not exist."""


class Conflict(ApiError):
    """The request does not fit the current state (e.g. the run already ended)."""


@dataclass(frozen=True, kw_only=True)
class RunFilters:
    """Filters of ``GET /agent/runs`` and ``GET /agent/runs/stats``; empty means all."""

    statuses: tuple[str, ...] = ()
    source: str | None = None
    model: str | None = None
    agent_name: str | None = None
    since: datetime | None = None  # UTC, naive or aware
    until: datetime | None = None
    text: str | None = None
    tool: str | None = None
    annotation: str | None = None  # good, bad, any, or a label
    has_error: bool = False  # failed, lost, or any error recorded on the run or a step
    parent_run_id: str | None = None  # sub-agent runs of this run

    def to_params(self) -> list[tuple[str, str]]:
        """Query parameters in the API's names; repeated ``status`` for several."""
        params: list[tuple[str, str]] = [("status", s) for s in self.statuses]
        for name, value in (
            ("source", self.source),
            ("model", self.model),
            ("agent_name", self.agent_name),
            ("q", self.text),
            ("tool", self.tool),
            ("annotation", self.annotation),
            ("parent_run_id", self.parent_run_id),
        ):
            if value:
                params.append((name, value))
        if self.has_error:
            params.append(("has_error", "true"))
        for name, moment in (("since", self.since), ("until", self.until)):
            if moment is not None:
                params.append((name, _iso_utc(moment)))
        return params

    @property
    def is_empty(self) -> bool:
        """True when nothing is filtered out."""
        return not self.to_params()


@dataclass(frozen=True)
class RunPage:
    """One page of runs, newest first, the cursor of the next page, and the raw answer."""

    runs: list[Record]
    total: int
    next_cursor: str | None
    body: Record = field(default_factory=dict)


@dataclass(frozen=True)
class StepPage:
    """One page of a run's steps, in order, and the ``after_step`` of the next (None: no more)."""

    steps: list[Record]
    next_after_step: int | None


@dataclass(frozen=True)
class SqlResult:
    """The answer of ``POST /sql``."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    elapsed_ms: float | None = None
    extra: Record = field(default_factory=dict)


def _iso_utc(moment: datetime) -> str:
    # The API's times are UTC; an aware time is converted, a naive one is taken as UTC.
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds") + "Z"


class AuditClient:
    """Typed calls to the REST API; one connection pool, closed by ``close()``."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 5.0,
        user_agent: str = "agent-audit",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": user_agent}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> AuditClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- endpoints ------------------------------------------------------------------
    def health(self) -> Record:
        """``GET /healthz``; raises when the collector is down or refuses us."""
        return self._request("GET", "/healthz")

    def list_runs(
        self, filters: RunFilters | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> RunPage:
        """One page of runs matching ``filters``, newest first."""
        params = (filters or RunFilters()).to_params() + [("limit", str(limit))]
        if cursor:
            params.append(("cursor", cursor))
        body = self._request("GET", "/agent/runs", params=params)
        return RunPage(
            runs=list(body.get("runs") or []),
            total=int(body.get("total") or 0),
            next_cursor=body.get("next") or None,
            body=body,
        )

    def get_run(self, run_id: str) -> Record:
        """One run with its first 1,000 ``steps`` in order (``steps_truncated`` when more
        follow: :meth:`get_steps` reads them all); NotFound when unknown."""
        return self._request("GET", f"/agent/runs/{_segment(run_id)}")

    def steps_page(self, run_id: str, *, after_step: int = 0, limit: int | None = None) -> StepPage:
        """At most ``limit`` (the API's default: 1,000) steps numbered above ``after_step``."""
        params = [("after_step", str(after_step))]
        if limit is not None:
            params.append(("limit", str(limit)))
        body = self._request("GET", f"/agent/runs/{_segment(run_id)}/steps", params=params)
        following = body.get("next_after_step")
        return StepPage(
            steps=list(body.get("steps") or []),
            next_after_step=None if following is None else int(following),
        )

    def get_steps(
        self, run_id: str, *, after_step: int = 0, page_size: int | None = None
    ) -> list[Record]:
        """Every step of a run whose step_number is greater than ``after_step``, read a page
        (``page_size``, else the API's default) at a time."""
        steps: list[Record] = []
        following: int | None = after_step
        while following is not None:
            page = self.steps_page(run_id, after_step=following, limit=page_size)
            steps += page.steps
            if page.next_after_step is not None and page.next_after_step <= following:
                break  # a page that does not advance would repeat forever
            following = page.next_after_step
        return steps

    def span(self, trace_id: str, span_id: str) -> Record:
        """One stored span (JSON columns decoded); NotFound when it is not stored."""
        return self._request("GET", f"/spans/{_segment(trace_id)}/{_segment(span_id)}")

    def stats(self, filters: RunFilters | None = None, *, bucket: str | None = "day") -> Record:
        """Aggregates over the runs matching ``filters``; ``bucket=None`` lets the API pick."""
        params = (filters or RunFilters()).to_params()
        if bucket:
            params.append(("bucket", bucket))
        return self._request("GET", "/agent/runs/stats", params=params)

    def cancel_run(
        self, run_id: str, *, requested_by: str | None = "dashboard", reason: str | None = None
    ) -> Record:
        """Ask the agent running ``run_id`` to stop; Conflict when it is not running."""
        payload: Record = {}
        if requested_by:
            payload["requested_by"] = requested_by
        if reason:
            payload["reason"] = reason
        return self._request("POST", f"/agent/runs/{_segment(run_id)}/cancel", json=payload)

    def cancel_requests(self, run_ids: Iterable[str]) -> list[Record]:
        """Cancel requests recorded for the given runs."""
        params = [("run_id", run_id) for run_id in run_ids]
        body = self._request("GET", "/agent/cancel-requests", params=params)
        return list(body.get("requests") or [])

    def annotations(self, run_id: str) -> list[Record]:
        """A run's annotations (good, bad, label, note), oldest first."""
        body = self._request("GET", f"/agent/runs/{_segment(run_id)}/annotations")
        return list(body.get("annotations") or [])

    def annotate(self, run_id: str, *, kind: str, author: str, value: str | None = None) -> Record:
        """Store one annotation; ApiError(400) says why one is refused, NotFound for a bad id,
        Conflict once the run has 1,000 annotations."""
        payload: Record = {"kind": kind, "author": author}
        if value is not None:
            payload["value"] = value
        return self._request("POST", f"/agent/runs/{_segment(run_id)}/annotations", json=payload)

    def costs(self, filters: RunFilters | None = None, *, bucket: str = "day") -> Record:
        """Cost of the runs matching ``filters``: total, over time, by model and by agent."""
        params = (filters or RunFilters()).to_params() + [("bucket", bucket)]
        return self._request("GET", "/agent/costs", params=params)

    def sql(self, query: str, *, max_rows: int | None = None) -> SqlResult:
        """Run one read-only statement; ApiError(400) carries the reason it was refused."""
        payload: Record = {"sql": query}
        if max_rows is not None:
            payload["max_rows"] = max_rows
        body = self._request("POST", "/sql", json=payload)
        known = {"columns", "types", "rows", "row_count", "truncated", "elapsed_ms"}
        return SqlResult(
            columns=[str(c) for c in body.get("columns") or []],
            types=[str(t) for t in body.get("types") or []],
            rows=[list(r) for r in body.get("rows") or []],
            row_count=int(body.get("row_count") or 0),
            truncated=bool(body.get("truncated")),
            elapsed_ms=body.get("elapsed_ms"),
            extra={k: v for k, v in body.items() if k not in known},
        )

    def verify(self, *, derived: bool = True) -> Record:
        """``GET /verify``: walk the hash chain (and, with ``derived``, re-derive runs and
        steps); slow on a big database, so it may take up to ten minutes."""
        params = [("derived", str(derived).lower())]
        return self._request("GET", "/verify", params=params, timeout_s=600.0)

    def stream_export(self, fmt: str = "parquet") -> AbstractContextManager[httpx.Response]:
        """``GET /export``: the tar stream, as an open response to read in chunks."""
        return self._stream("/export", {"format": fmt})

    def stream_backup(self) -> AbstractContextManager[httpx.Response]:
        """``GET /backup``: the DuckDB file, as an open response to read in chunks."""
        return self._stream("/backup", {})

    # --- transport ------------------------------------------------------------------
    @contextmanager
    def _stream(self, path: str, params: dict[str, str]) -> Iterator[httpx.Response]:
        url = f"{self.base_url}{path}"
        try:
            with self._http.stream(
                "GET", path, params=params, timeout=httpx.Timeout(600.0)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error_for(response, url)
                yield response
        except httpx.TransportError as exc:
            raise self._unreachable(exc, url) from exc
        except httpx.InvalidURL as exc:
            raise _not_sent(exc, path) from None

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json: Record | None = None,
        timeout_s: float | None = None,
    ) -> Record:
        url = f"{self.base_url}{path}"
        timeout = httpx.Timeout(timeout_s) if timeout_s else httpx.USE_CLIENT_DEFAULT
        try:
            response = self._http.request(
                method, path, params=tuple(params) if params else None, json=json, timeout=timeout
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc, url) from exc
        except httpx.InvalidURL as exc:
            raise _not_sent(exc, path) from None
        if response.status_code >= 400:
            raise _error_for(response, url)
        try:
            body = response.json()
        except ValueError:
            raise CollectorUnreachable(
                f"{url} did not answer with JSON; is {self.base_url} the collector's HTTP port?",
                url=url,
            ) from None
        if not isinstance(body, dict):
            raise CollectorUnreachable(f"{url} answered with unexpected JSON", url=url)
        return body

    def _unreachable(self, exc: httpx.TransportError, url: str) -> CollectorUnreachable:
        reason = str(exc) or type(exc).__name__
        return CollectorUnreachable(
            f"cannot reach the agent-audit API at {self.base_url} ({reason}); "
            "is the collector running? (agent-audit collector, or --api / AGENT_AUDIT_API)",
            url=url,
        )


def _not_sent(exc: httpx.InvalidURL, path: str) -> RequestNotSent:
    shown = path if len(path) <= 80 else path[:80] + "..."
    return RequestNotSent(f"the request for {shown} cannot be sent: {exc}", url=shown)


# Segments a run id must not be sent as: dot segments are resolved away (RFC 3986
# 5.2.4) and "stats" is a route of its own under /agent/runs/.
_TAKEN_SEGMENTS = frozenset({".", "..", "stats"})


def _segment(value: str) -> str:
    # A run id comes from the URL; quoting keeps it one path segment ("../sql" stays inert).
    quoted = quote(value, safe="")
    if quoted in _TAKEN_SEGMENTS:
        # Quoted whole: the collector reads an id segment as sent (collector/run_id_path.py).
        return "".join(f"%{byte:02X}" for byte in value.encode())
    return quoted


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:2000] or response.reason_phrase
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
    return json_module.dumps(raw)


def _error_for(response: httpx.Response, url: str) -> ApiError:
    detail = _detail(response)
    status = response.status_code
    message = f"{response.request.method} {url} -> {status}: {detail}"
    kind: type[ApiError] = ApiError
    if status in (401, 403):
        kind = Unauthorized
    elif status == 404:
        kind = NotFound
    elif status == 409:
        kind = Conflict
    logger.debug("collector error: %s", message)
    return kind(message, url=url, status_code=status, detail=detail)
