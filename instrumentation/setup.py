"""configure() and shutdown(): the tracer provider, exporter, live spans, cancel polling.

``configure()`` installs an SDK ``TracerProvider`` exporting over OTLP (gRPC by
default, or HTTP/protobuf) through a
:class:`~instrumentation.batching.BurstSafeSpanProcessor` (batches like the
SDK's ``BatchSpanProcessor``, but a full queue spills to the spool or makes the
agent wait instead of dropping spans) wrapped by
:class:`~instrumentation.pending.PendingSpanProcessor` — unless the application
already set an SDK provider, which is then used as it is (add
``PendingSpanProcessor`` to it yourself to see runs live).

Environment, read once per ``configure()`` (arguments win):

- ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (as is) / ``OTEL_EXPORTER_OTLP_ENDPOINT``
  (``/v1/traces`` appended for HTTP); default ``http://127.0.0.1:4317`` (gRPC)
  or ``http://127.0.0.1:4318/v1/traces`` (HTTP).
- ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` / ``OTEL_EXPORTER_OTLP_PROTOCOL``:
  ``grpc`` (default) or ``http/protobuf``.
- ``OTEL_SERVICE_NAME``; ``OTEL_EXPORTER_OTLP_*HEADERS``, ``*TIMEOUT``,
  ``*COMPRESSION`` and certificates: read by the SDK itself.
- ``OTEL_BSP_SCHEDULE_DELAY``, ``OTEL_BSP_MAX_QUEUE_SIZE``,
  ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``: the batch processor's settings.
- ``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`` / ``OTEL_ATTRIBUTE_COUNT_LIMIT``: the attributes a
  span keeps (read by the SDK). Unset, the provider installed here keeps
  :data:`SPAN_ATTRIBUTE_COUNT` instead of the SDK's 128: OpenInference writes each
  message of a model call as attributes of its own, and past the limit the SDK drops the
  oldest, the model's name and the user's request first.
- ``AGENT_AUDIT_TOKEN``: sent as ``authorization: Bearer <token>`` on exports,
  spool replays and cancel polls.
- ``AGENT_AUDIT_API``: the collector's REST API, for cancel polling; default
  the gRPC endpoint's host on its port + 1, or the HTTP endpoint's own origin.
  Given alone, it also sets the OTLP endpoint (same host; port - 1 for gRPC):
  one address for everything (see :mod:`instrumentation.settings`).
- ``AGENT_AUDIT_SPOOL_DIR`` / ``AGENT_AUDIT_SPOOL_MAX_BYTES``: turn on the
  on-disk spool (off by default), see :mod:`instrumentation.spooling`; it
  also takes what a burst leaves no room for in the span queue.
- ``AGENT_AUDIT_REDACT`` (on by default), ``AGENT_AUDIT_REDACT_PATTERNS``,
  ``AGENT_AUDIT_REDACT_KEYS``, ``AGENT_AUDIT_REDACT_BUDGET_MS``,
  ``AGENT_AUDIT_MAX_ATTRIBUTE_BYTES``: spans are redacted (and long values cut)
  before the spool, and before export too with ``AGENT_AUDIT_REDACT_WIRE``, see
  :mod:`instrumentation.span_redaction`. Long values are cut before export
  and before the spool whether or not redaction is on, see
  :mod:`instrumentation.span_trimming`.

Shutdown is bounded: ``shutdown(timeout_s)`` (also run at exit) flushes what it
can within the time and abandons the rest, so an agent never hangs at exit on a
collector that is down.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from instrumentation import attributes as attr
from instrumentation import env as E
from instrumentation.batching import BatchLimits, BurstSafeSpanProcessor
from instrumentation.cancel import CancelPoller
from instrumentation.export import GuardedExporter
from instrumentation.pending import PendingSpanProcessor
from instrumentation.senders import GRPC_RECONNECT_OPTIONS, GrpcSender, HttpSender
from instrumentation.settings import ExportSettings, resolve_export_settings
from instrumentation.span_redaction import SpanRedactor, policy_from_env
from instrumentation.span_trimming import SpanTrimmer, chain
from instrumentation.spool import SpanSpool
from instrumentation.spooling import SpoolingExporter

__all__ = ["Configuration", "ExportStats", "configure", "export_stats", "shutdown"]

logger = logging.getLogger(__name__)

SCOPE_NAME = "agent_audit"
DEFAULT_SERVICE_NAME = "agent"
DEFAULT_EXPORT_TIMEOUT_S = 5.0
_SHUTDOWN_POLL_S = 0.02
_SHUTDOWN_GRACE_S = 1.0
DEFAULT_SCHEDULE_DELAY_MS = 500
# The shortest heartbeat, retry, poll and export interval configure() takes: shorter
# ones would keep a core busy for nothing.
MIN_INTERVAL_S = 0.01
# Attributes a span keeps unless the environment says: a long conversation flattened by
# OpenInference (several attributes per message) stays whole; values are cut elsewhere.
SPAN_ATTRIBUTE_COUNT = 4096
_TIMEOUT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
_ATTRIBUTE_COUNT_VARIABLES = ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT")


@dataclass(frozen=True, kw_only=True)
class Configuration:
    """What ``configure()`` put in place."""

    installed_provider: bool  # False: the app's (or the given) provider is used as it is
    service_name: str | None
    export: ExportSettings | None  # None when the provider is not ours
    heartbeat_s: float


# --- process-wide state ---------------------------------------------------------


@dataclass
class _State:
    configuration: Configuration
    tracer: trace.Tracer
    provider: TracerProvider | None  # set only when we created it
    exporter: GuardedExporter | None
    batcher: BurstSafeSpanProcessor | None
    poller: CancelPoller | None
    shutdown_timeout_s: float
    redactor: SpanRedactor | None = None
    spooling: bool = False


_lock = threading.Lock()
_state: _State | None = None
_our_providers: weakref.WeakSet[TracerProvider] = weakref.WeakSet()
_default_tracer: trace.Tracer | None = None
_atexit_registered = False
_last_stats: ExportStats | None = None


def _scope_version() -> str:
    try:
        from importlib.metadata import version

        return version("agent-audit")
    except Exception:
        return "0"


def tracer() -> trace.Tracer:
    """The tracer agent-audit's spans come from (the global provider's until configured)."""
    state = _state
    if state is not None:
        return state.tracer
    global _default_tracer
    if _default_tracer is None:
        _default_tracer = trace.get_tracer(SCOPE_NAME, _scope_version())
    return _default_tracer


def _state_of(
    configuration: Configuration,
    provider: TracerProvider,
    poller: CancelPoller | None,
    shutdown_timeout_s: float,
    *,
    exporter: GuardedExporter | None = None,
    batcher: BurstSafeSpanProcessor | None = None,
) -> _State:
    # With ``exporter`` configure() installed the provider itself: shutdown() then
    # flushes and closes both. Without, the provider is the application's, only used.
    return _State(
        configuration=configuration,
        tracer=provider.get_tracer(SCOPE_NAME, _scope_version()),
        provider=provider if exporter is not None else None,
        exporter=exporter,
        batcher=batcher,
        poller=poller,
        shutdown_timeout_s=shutdown_timeout_s,
    )


def cancel_poller() -> CancelPoller | None:
    """The cancel poller of the current configuration, if any."""
    state = _state
    return state.poller if state is not None else None


def _build_exporter(settings: ExportSettings, export_timeout_s: float | None) -> SpanExporter:
    # Headers go in explicitly only with a token: otherwise the SDK reads OTEL_*HEADERS itself.
    auth = {"authorization": settings.headers["authorization"]} if settings.token else None
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter(
            endpoint=settings.endpoint,
            headers=dict(settings.headers) if auth else None,
            timeout=export_timeout_s,
            channel_options=GRPC_RECONNECT_OPTIONS,  # type: ignore[arg-type]  # SDK hint too narrow
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter(endpoint=settings.endpoint, headers=auth, timeout=export_timeout_s)


def _check_seconds(name: str, value: object, *, minimum: float) -> None:
    """ValueError unless ``value`` is a finite number of at least ``minimum``.

    A zero, negative or NaN interval would make a background thread spin (NaN
    compares false with every deadline); infinity would make shutdown unbounded.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < minimum
    ):
        raise ValueError(f"{name} must be a finite number of at least {minimum}, got {value!r}")


def _export_timeout(export_timeout_s: float | None, env: Mapping[str, str]) -> float | None:
    if export_timeout_s is not None:
        return export_timeout_s
    for name in _TIMEOUT_VARIABLES:
        raw = env.get(name)
        if raw:
            # The SDK reads it, but a bad one only fails at the first export, unnamed.
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a number") from None
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name}={raw!r} must be a positive finite number")
    if any(env.get(name) for name in _TIMEOUT_VARIABLES):
        return None  # the SDK reads it
    return DEFAULT_EXPORT_TIMEOUT_S


def configure(
    endpoint: str | None = None,
    protocol: str | None = None,
    service_name: str | None = None,
    api_url: str | None = None,
    *,
    token: str | None = None,
    heartbeat_s: float = 30.0,
    spool_dir: str | os.PathLike[str] | None = None,
    spool_max_bytes: int | None = None,
    spool_retry_s: float = 1.0,
    cancel_poll_s: float | None = 1.0,
    export_timeout_s: float | None = None,
    schedule_delay_ms: int | None = None,
    shutdown_timeout_s: float = 5.0,
    tracer_provider: TracerProvider | None = None,
    redact: bool | None = None,
) -> Configuration:
    """Set up tracing for agent-audit; safe to call twice (the second call changes nothing).

    ``endpoint``/``protocol``: the collector's OTLP endpoint (see the module
    docstring). ``api_url``: its REST API, polled for cancel requests every
    ``cancel_poll_s`` while runs are open (None or 0 turns polling off).
    ``heartbeat_s``: how often an open run's pending span is re-sent.
    ``spool_dir``: keep batches on disk while the collector is down.
    ``tracer_provider``: use this provider instead of the global one (nothing
    is installed). ``redact``: redact spans before the spool, and before export
    with ``AGENT_AUDIT_REDACT_WIRE`` (default
    ``AGENT_AUDIT_REDACT``, on). After :func:`shutdown`, ``configure()`` may be called anew.
    Raises ValueError for a bad argument or environment value: the intervals
    (``heartbeat_s``, ``spool_retry_s``, ``cancel_poll_s``, ``export_timeout_s``)
    must be finite and at least :data:`MIN_INTERVAL_S`, ``shutdown_timeout_s``
    finite and not negative, ``schedule_delay_ms`` at least 1.
    """
    global _state, _atexit_registered
    _check_seconds("heartbeat_s", heartbeat_s, minimum=MIN_INTERVAL_S)
    _check_seconds("shutdown_timeout_s", shutdown_timeout_s, minimum=0.0)
    _check_seconds("spool_retry_s", spool_retry_s, minimum=MIN_INTERVAL_S)
    if cancel_poll_s:  # None or 0: polling off
        _check_seconds("cancel_poll_s", cancel_poll_s, minimum=MIN_INTERVAL_S)
    if export_timeout_s is not None:
        _check_seconds("export_timeout_s", export_timeout_s, minimum=MIN_INTERVAL_S)
    if schedule_delay_ms is not None:
        _check_seconds("schedule_delay_ms", schedule_delay_ms, minimum=1)
    env = dict(os.environ)
    with _lock:
        if _state is not None:
            logger.debug("agent-audit is configured already; configure() call ignored")
            return _state.configuration
        settings = resolve_export_settings(
            endpoint=endpoint,
            protocol=protocol,
            api_url=api_url,
            token=token,
            spool_dir=spool_dir,
            spool_max_bytes=spool_max_bytes,
            env=env,
        )
        timeout_s = _export_timeout(export_timeout_s, env)
        poller = None
        if cancel_poll_s and settings.api_url:
            auth = {"authorization": f"Bearer {settings.token}"} if settings.token else {}
            poller = CancelPoller(settings.api_url, headers=auth, interval_s=cancel_poll_s)

        provider = tracer_provider
        if provider is None:
            current = trace.get_tracer_provider()
            if isinstance(current, TracerProvider) and current not in _our_providers:
                logger.debug("the application set a TracerProvider already; using it as it is")
                provider = current
        if provider is not None:
            configuration = Configuration(
                installed_provider=False, service_name=None, export=None, heartbeat_s=heartbeat_s
            )
            _state = _state_of(configuration, provider, poller, shutdown_timeout_s)
            return configuration

        resource = _resource(service_name, env)
        policy = policy_from_env(env)
        if redact is not None:
            policy = dataclasses.replace(policy, enabled=redact)
        redactor = SpanRedactor(policy) if policy.enabled else None
        # Cut over-long values whether or not redaction is on: one huge value must not
        # make a request the collector refuses, losing the whole batch.
        trimmer = SpanTrimmer(policy.max_value_bytes)
        spool = None
        if settings.spool_dir is not None:  # first: a bad directory fails before any I/O starts
            spool = SpanSpool(settings.spool_dir, max_bytes=settings.spool_max_bytes)
        exporter: SpanExporter = _build_exporter(settings, timeout_s)
        target = f"{settings.endpoint} ({settings.protocol})"
        spooling: SpoolingExporter | None = None
        if spool is not None:
            sender_type = GrpcSender if settings.protocol == "grpc" else HttpSender
            sender = sender_type(
                settings.endpoint,
                headers=settings.headers,
                timeout_s=timeout_s or DEFAULT_EXPORT_TIMEOUT_S,
            )
            exporter = spooling = SpoolingExporter(
                exporter,
                spool,
                sender,
                target=target,
                retry_interval_s=spool_retry_s,
                redact=chain(trimmer, redactor),
            )
        guarded = GuardedExporter(exporter, target=target)
        # The collector redacts what it receives; redacting on the wire as well
        # costs the agent's process ~10 µs a span, so it is asked for, not assumed.
        wire_redactor = redactor if E.REDACT_WIRE.read(env) else None
        batch = BurstSafeSpanProcessor(
            guarded,
            BatchLimits(
                max_queue_size=settings.bsp_max_queue_size,
                max_export_batch_size=min(
                    settings.bsp_max_export_batch_size, settings.bsp_max_queue_size
                ),
                schedule_delay_millis=schedule_delay_ms
                or settings.bsp_schedule_delay_ms
                or DEFAULT_SCHEDULE_DELAY_MS,
            ),
            spill=spooling.spill if spooling is not None else None,
            healthy=lambda: not guarded.struggling and not guarded.aborted,
            on_drop=guarded.note_queue_drop,
            redact=chain(trimmer, wire_redactor),
        )
        # Our bounded shutdown runs at exit, not the SDK's (30 s when the collector is down).
        provider = TracerProvider(
            resource=resource, shutdown_on_exit=False, span_limits=_span_limits(env)
        )
        provider.add_span_processor(PendingSpanProcessor(batch, heartbeat_s=heartbeat_s))
        _our_providers.add(provider)
        if not isinstance(trace.get_tracer_provider(), TracerProvider):
            trace.set_tracer_provider(provider)
        configuration = Configuration(
            installed_provider=True,
            service_name=resource.attributes.get(attr.SERVICE_NAME),  # type: ignore[arg-type]
            export=settings,
            heartbeat_s=heartbeat_s,
        )
        _state = _state_of(
            configuration, provider, poller, shutdown_timeout_s, exporter=guarded, batcher=batch
        )
        _state.redactor = redactor
        _state.spooling = spooling is not None
        if not _atexit_registered:
            atexit.register(_shutdown_at_exit)
            _atexit_registered = True
        logger.debug("agent-audit exports spans to %s", target)
        return configuration


def _span_limits(env: Mapping[str, str]) -> SpanLimits:
    """The SDK's limits, with :data:`SPAN_ATTRIBUTE_COUNT` attributes a span unless one of
    the OpenTelemetry variables sets the count (the SDK reads them itself then)."""
    if any(env.get(name) for name in _ATTRIBUTE_COUNT_VARIABLES):
        return SpanLimits()
    return SpanLimits(max_span_attributes=SPAN_ATTRIBUTE_COUNT)


def _resource(service_name: str | None, env: Mapping[str, str]) -> Resource:
    if service_name:
        return Resource.create({attr.SERVICE_NAME: service_name})
    if env.get("OTEL_SERVICE_NAME"):
        return Resource.create({})  # the SDK reads OTEL_SERVICE_NAME
    resource = Resource.create({})
    if "OTEL_RESOURCE_ATTRIBUTES" in env and "service.name=" in env["OTEL_RESOURCE_ATTRIBUTES"]:
        return resource
    return resource.merge(Resource({attr.SERVICE_NAME: DEFAULT_SERVICE_NAME}))


@dataclass(frozen=True)
class ExportStats:
    """What became of finished spans that did not go straight out."""

    dropped_spans: int  # lost: failed exports, or a full queue with nowhere to go
    spilled_spans: int  # moved from a full queue to the on-disk spool
    waited_s: float  # time the agent's threads waited for room in a full queue


def _stats_of(state: _State) -> ExportStats:
    dropped = state.exporter.dropped_spans if state.exporter is not None else 0
    batcher = state.batcher
    if batcher is None:
        return ExportStats(dropped_spans=dropped, spilled_spans=0, waited_s=0.0)
    return ExportStats(
        dropped_spans=dropped, spilled_spans=batcher.spilled_spans, waited_s=batcher.waited_s
    )


def export_stats() -> ExportStats:
    """Counts of the current configuration, or of the last one after shutdown."""
    state = _state
    if state is not None:
        return _stats_of(state)
    return _last_stats or ExportStats(dropped_spans=0, spilled_spans=0, waited_s=0.0)


def last_dropped_spans() -> int:
    """Spans our exporter could not deliver: so far, or in the last configuration after shutdown."""
    return export_stats().dropped_spans


def shutdown(timeout_s: float | None = None) -> bool:
    """Flush and stop what ``configure()`` started, within ``timeout_s`` (default: as configured).

    Returns True if everything was flushed in time. Spans still queued at the
    deadline are dropped (or left in the spool). Never raises.
    """
    global _state, _last_stats
    with _lock:
        state, _state = _state, None
    if state is None:
        return True
    if state.poller is not None:
        state.poller.stop()
    provider, exporter = state.provider, state.exporter
    if provider is None or exporter is None:
        return True
    budget_s = state.shutdown_timeout_s if timeout_s is None else max(0.0, timeout_s)
    done = threading.Event()

    def _shutdown_provider() -> None:
        try:
            provider.shutdown()
        except Exception:  # thread boundary
            logger.debug("tracer provider shutdown failed", exc_info=True)
        finally:
            done.set()

    threading.Thread(target=_shutdown_provider, name="agent-audit-shutdown", daemon=True).start()
    deadline = time.monotonic() + budget_s
    while not done.wait(_SHUTDOWN_POLL_S):
        if exporter.struggling or time.monotonic() >= deadline:
            # Retries against a collector that is down would only eat the budget:
            # stop them; what is left is spooled (if on) or dropped.
            exporter.abort()
            if state.redactor is not None and not state.spooling:
                # Every batch from here on is dropped unsent: no need to scan it.
                state.redactor.stop()
            break
    finished = done.wait(_SHUTDOWN_GRACE_S)
    if not finished and state.redactor is not None:
        # The export thread is abandoned: keep it out of RE2 while the interpreter exits.
        state.redactor.stop()
    _last_stats = _stats_of(state)
    if not finished:
        logger.warning("agent-audit shutdown gave up after %.1f s; unsent spans dropped", budget_s)
    return finished


def _shutdown_at_exit() -> None:
    shutdown()
