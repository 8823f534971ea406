"""HTTP API of the agent service: ``POST /agent/run`` and ``GET /healthz``.

``POST /agent/run`` body::

    {"task": "...", "model": null, "max_steps": null, "source": "n8n",
     "triggered_by": "workflow 12 / execution 345", "working_directory": null,
     "metadata": {}, "wait": true}

With ``wait`` (the default) the answer comes when the run ends: 200
``{run_id, status, final_answer, error, steps, step_count}``; ``status`` says how
it ended (completed, failed, max_steps, cancelled). With ``"wait": false`` the
answer is 202 ``{run_id, status: "running"}`` as soon as the run starts: follow
it on the collector's ``GET /agent/runs/{run_id}``. Past the concurrency limit:
429 with ``Retry-After``. With ``AGENT_AUDIT_TOKEN`` set, ``POST /agent/run``
needs ``Authorization: Bearer <token>``; ``/healthz`` stays open but shows the
configuration only to a caller with the token. A caller that disconnects before
its run has ended (``wait`` true) cancels the run: nobody is left to read the
answer, and the run stops at its next step boundary as ``cancelled``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.errors import AgentError
from agent.loop import RunOutcome, RunRequest
from agent.service import AgentService, RunTicket, ServiceBusy
from agent.settings import without_credentials
from collector.api_body_limit import ApiBodyLimit
from instrumentation.attributes import RunStatus
from instrumentation.encoding import clean_text
from instrumentation.redaction import Redactor
from instrumentation.security import (
    UNAUTHORIZED_BODY,
    UNAUTHORIZED_HEADERS,
    refused,
    token_matches,
)

# A request body past this is a 413 before it is kept (collector/api_body_limit.py).
MAX_BODY_BYTES = 2 * 1024 * 1024

__all__ = ["MAX_BODY_BYTES", "RunBody", "create_app"]

logger = logging.getLogger(__name__)

# Who stopped a run whose caller went away, as the trail and the answer show it.
CALLER_GONE_BY = "agent service"
CALLER_GONE_REASON = "the client that asked for this run disconnected before it ended"


class RunBody(BaseModel):
    """The body of ``POST /agent/run``."""

    # strict: "5" is not a number of steps and "no" is not false; a wrong type is a 422.
    model_config = ConfigDict(extra="forbid", strict=True)

    task: str = Field(min_length=1, max_length=100_000, description="what the agent should do")
    model: str | None = Field(
        None, min_length=1, max_length=200, description="model name; default from the settings"
    )
    max_steps: int | None = Field(None, ge=1, description="model calls allowed for this run")
    source: str | None = Field(None, max_length=200, description="what sent the task, e.g. n8n")
    triggered_by: str | None = Field(
        None, max_length=1000, description="who or what triggered it, e.g. workflow/execution ids"
    )
    working_directory: str | None = Field(None, max_length=4096)
    metadata: dict[str, Any] | None = Field(None, description="any JSON object, kept with the run")
    wait: bool = Field(True, description="answer when the run ends (true) or when it starts")

    @field_validator("task", "model")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        # White space alone is no task for a model, and no model name for its server.
        if value is not None and not value.strip():
            raise ValueError("must hold more than white space")
        return value


def create_app(service: AgentService) -> FastAPI:
    """The FastAPI application serving ``service``."""
    app = FastAPI(
        title="agent-audit agent",
        description="The reference agent: an OpenAI-compatible tool-calling loop, fully traced.",
    )
    app.state.service = service
    settings = service.settings
    redactor = Redactor(settings.redaction)
    # A task of 100,000 characters written as \uXXXX escapes is 600 KB of JSON.
    app.add_middleware(ApiBodyLimit, limit=MAX_BODY_BYTES)

    @app.exception_handler(RequestValidationError)
    async def bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        media_type = _media_type(request.headers.get("content-type"))
        if media_type is not None and not _is_json(media_type):
            # The body was never read as JSON: say so, not that its fields are wrong.
            detail = f"the body must be JSON (Content-Type: application/json), not {media_type}"
            return SafeJSONResponse({"detail": detail}, status_code=415)
        # One line naming each field and what is wrong, never the value sent: echoing it
        # back failed on a lone surrogate or 1e400 (a 500 instead of the 422).
        return SafeJSONResponse({"detail": validation_detail(exc.errors())}, status_code=422)

    @app.middleware("http")
    async def require_token(request: Request, call_next: Any) -> Any:
        authorization = request.headers.get("authorization")
        if refused(settings.token, authorization, open_path=request.url.path == "/healthz"):
            return JSONResponse(UNAUTHORIZED_BODY, status_code=401, headers=UNAUTHORIZED_HEADERS)
        return await call_next(request)

    @app.get("/healthz", summary="Liveness; with the token (if one is set), the configuration")
    def healthz(request: Request) -> dict[str, Any]:
        if settings.token and not token_matches(
            settings.token, request.headers.get("authorization")
        ):
            return {"status": "ok"}  # open for health checks, tells strangers nothing more
        ssh = settings.ssh
        return {
            "status": "ok",
            "model": settings.llm_model,
            "llm_base_url": without_credentials(settings.llm_base_url),
            "ssh_host": f"{ssh.user}@{ssh.host}:{ssh.port}" if ssh else None,
            "tools": service.toolbox.names(),
            "active_runs": service.active_runs,
            "max_concurrent": settings.max_concurrent,
        }

    @app.post(
        "/agent/run",
        summary="Run the agent on a task",
        responses={
            202: {"description": "started (wait=false)"},
            429: {"description": "too many runs at once; see Retry-After"},
        },
    )
    async def run_agent(body: RunBody, http_request: Request) -> Response:
        if body.max_steps is not None and body.max_steps > settings.max_steps_limit:
            return JSONResponse(
                {"detail": f"max_steps {body.max_steps} is over {settings.max_steps_limit}"},
                status_code=422,
            )
        request = RunRequest(
            task=body.task,
            model=body.model,
            max_steps=body.max_steps,
            source=body.source,
            triggered_by=body.triggered_by,
            working_directory=body.working_directory,
            metadata=body.metadata,
        )
        try:
            ticket = service.submit(request)
        except ServiceBusy as exc:
            return JSONResponse(
                {"detail": str(exc)},
                status_code=429,
                headers={"Retry-After": str(exc.retry_after_s)},
            )
        except AgentError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=503)
        try:
            run_id = await asyncio.wrap_future(ticket.started)
        except Exception as exc:
            return JSONResponse({"detail": f"the run could not start: {exc}"}, status_code=500)
        if not body.wait:
            return JSONResponse(
                {"run_id": run_id, "status": RunStatus.RUNNING.value}, status_code=202
            )
        outcome = await _outcome_unless_caller_leaves(ticket, http_request)
        if outcome is None:
            return Response(status_code=499)  # nobody reads it; uvicorn drops it
        return SafeJSONResponse(outcome_body(outcome, redactor))

    return app


async def _outcome_unless_caller_leaves(ticket: RunTicket, request: Request) -> RunOutcome | None:
    """The run's outcome; None (the run told to stop) if the caller disconnects first."""
    outcome = asyncio.wrap_future(ticket.outcome)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        waiting: set[asyncio.Future[Any]] = {outcome, gone}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if outcome.done():
        return outcome.result()
    run_id = ticket.started.result()
    logger.info("run %s: the caller disconnected; cancelling the run", run_id)
    ticket.cancel(requested_by=CALLER_GONE_BY, reason=CALLER_GONE_REASON)
    return None


async def _disconnected(request: Request) -> None:
    """Returns when the client closes its connection (the body was read before)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


class SafeJSONResponse(JSONResponse):
    """A JSONResponse that renders any text: lone surrogates become U+FFFD, NaN a string.

    A tool's output or a model's answer may hold either; the standard rendering
    raised on them and the caller got a 500 for a run that had ended.
    """

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except (UnicodeEncodeError, ValueError):
            return super().render(_json_safe(content))


def _json_safe(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_json_safe(str(k)): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _media_type(content_type: str | None) -> str | None:
    """``text/plain`` of ``text/plain; charset=utf-8``; None when no type was sent."""
    if not content_type or not content_type.strip():
        return None
    return clean_text(content_type.split(";", 1)[0].strip().lower())[:100]


def _is_json(media_type: str) -> bool:
    """The types FastAPI reads as JSON: ``application/json`` and ``application/*+json``."""
    main, _, sub = media_type.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def validation_detail(errors: Sequence[Mapping[str, Any]]) -> str:
    """``field: problem; ...`` for a body that does not fit :class:`RunBody` (values left out)."""
    problems = []
    for error in errors:
        where = ".".join(clean_text(str(part))[:100] for part in error.get("loc", ())[1:])
        problems.append(f"{where or 'body'}: {clean_text(str(error.get('msg', 'invalid')))}")
    return "; ".join(problems[:20])


def outcome_body(outcome: RunOutcome, redactor: Redactor | None = None) -> dict[str, Any]:
    """A finished run as the JSON answer of ``POST /agent/run``.

    With ``redactor``, its text loses the secrets the trail loses: the caller (n8n
    keeps every answer in its execution log, a chat gets the final answer) must
    not hold what the audit trail refuses to store.
    """

    def text(value: Any) -> Any:
        return redactor.redact_text(value) if redactor and isinstance(value, str) else value

    return {
        "run_id": outcome.run_id,
        "status": outcome.status,
        "final_answer": text(outcome.final_answer),
        "error": text(outcome.error),
        "step_count": len(outcome.steps),
        "steps": [
            {
                key: text(value)
                for key, value in dataclasses.asdict(step).items()
                if value is not None
            }
            for step in outcome.steps
        ],
    }
