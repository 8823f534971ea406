"""Live runs: export a zero-length "pending" copy of a span soon after it starts.

A span is exported only when it ends, so a running run would stay invisible.
:class:`PendingSpanProcessor` wraps the exporting processor (usually a
``BatchSpanProcessor``): shortly after a run or step span starts (0.1 s by
default) it hands the wrapped processor a pending copy, unless the span ended
by then; it forwards every real span when it ends.

A pending copy has a new random span id, the real span as parent, the same
trace, name, kind, resource and scope, the attributes the real span had at that
moment plus ``agent_audit.pending=true`` and ``agent_audit.pending_parent_id``
(the real span id, 16 lowercase hex digits), and ``agent_audit.pending_real_parent_id``
(the real span's parent, when it has one: a span that never ends still tells where
the spans below it belong). Its start time is the real span's
start; its end time equals its start for the first copy, and is the time the
copy was sent for heartbeats. While a run is open, a heartbeat re-sends a
pending copy of the run span (new span id each time) every ``heartbeat_s``, so
a collector sees a run with a long step is still alive. A run span still open
when the processor shuts down (the process exits on Ctrl-C or ``sys.exit``, a
server stops) gets a last copy with ``agent_audit.pending_open_at_exit=true``:
the run was cut off then, rather than lost.

Only agent spans get pending copies: those carrying ``agent_run.id``,
``gen_ai.operation.name``, ``openinference.span.kind`` or ``traceloop.span.kind``
when they start (ours and those of instrumented agent frameworks), or, for a run
span started without them (bare, or with only other ``gen_ai.*`` / ``traceloop.*``
keys: Strands and the Traceloop SDK set the kind just after), when its copy is
due. Other spans (HTTP clients, databases) pass through untouched. Heartbeats go
to run spans: GenAI ``invoke_agent``/``create_agent``, OpenInference ``AGENT``,
the Traceloop SDK's ``workflow``/``agent``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import SpanContext
from opentelemetry.util.types import AttributeValue

from instrumentation import attributes as attr
from instrumentation.forking import after_fork_in_child

__all__ = ["PendingSpanProcessor", "pending_copy"]

logger = logging.getLogger(__name__)

# Upper bound of run spans re-sent per heartbeat: the work stays bounded even
# if an agent leaves thousands of runs open.
_MAX_HEARTBEATS_PER_BEAT = 1000
# Started spans waiting for their copy; beyond it the oldest (likely ended) go.
_MAX_WAITING_SPANS = 10_000

_id_generator = RandomIdGenerator()


def _attributes_snapshot(span: ReadableSpan) -> dict[str, AttributeValue]:
    # A live span's attributes may change on another thread while we copy them;
    # BoundedAttributes snapshots its keys under its lock, so retry a key that
    # vanished in between.
    for _ in range(3):
        try:
            return dict(span.attributes or {})
        except (KeyError, RuntimeError):
            continue
    return {}


def _events_snapshot(span: ReadableSpan) -> tuple[Event, ...]:
    try:
        return tuple(span.events or ())
    except RuntimeError:  # appended to on another thread while copied
        return ()


def pending_copy(
    span: ReadableSpan, *, end_ns: int | None = None, at_exit: bool = False
) -> ReadableSpan | None:
    """A pending copy of ``span`` as the module docstring describes (None without a context)."""
    real = span.context
    if real is None:
        return None
    attributes = _attributes_snapshot(span)
    attributes[attr.PENDING] = True
    attributes[attr.PENDING_PARENT_ID] = format(real.span_id, "016x")
    if span.parent is not None and span.parent.span_id:
        attributes[attr.PENDING_REAL_PARENT_ID] = format(span.parent.span_id, "016x")
    if at_exit:
        attributes[attr.PENDING_OPEN_AT_EXIT] = True
    start_ns = span.start_time
    return ReadableSpan(
        name=span.name,
        context=SpanContext(
            real.trace_id,
            _id_generator.generate_span_id(),
            is_remote=False,
            trace_flags=real.trace_flags,
            trace_state=real.trace_state,
        ),
        parent=real,
        resource=span.resource,
        attributes=attributes,
        # The events so far: a framework may log the request as one at the start (Strands).
        events=_events_snapshot(span),
        kind=span.kind,
        instrumentation_scope=span.instrumentation_scope,
        start_time=start_ns,
        end_time=start_ns if end_ns is None else end_ns,
    )


def _classify(attributes: Mapping[str, object]) -> tuple[bool, bool]:
    """(is an agent span, is a run span), with as few lookups as possible: this runs per span."""
    operation = attributes.get(attr.GEN_AI_OPERATION_NAME)
    if operation is not None:
        return True, operation in attr.RUN_OPERATIONS
    if attr.RUN_ID in attributes:
        return True, False
    kind = attributes.get(attr.OPENINFERENCE_SPAN_KIND)
    if kind is not None:
        return True, kind == "AGENT"
    decorated = attributes.get(attr.TRACELOOP_SPAN_KIND)
    if decorated is not None:
        return True, decorated in attr.TRACELOOP_RUN_KINDS
    return False, False


# Keys an agent framework's span may carry at its start before the one that tells its kind.
_AGENT_KEY_PREFIXES = ("gen_ai.", "traceloop.")


def _kind_comes_later(attributes: Mapping[str, object]) -> bool:
    return not attributes or any(key.startswith(_AGENT_KEY_PREFIXES) for key in attributes)


class PendingSpanProcessor(SpanProcessor):
    """Wraps an exporting span processor; adds pending copies and run heartbeats.

    The agent's thread only queues a started span (a deque append); a daemon
    thread makes the copies ``delay_s`` later, skipping spans that ended
    meanwhile, whose real span is on its way anyway. Short steps thus cost no
    copy at all, and a span open longer is visible within ``delay_s`` plus the
    wrapped processor's own delay. ``delay_s=0`` copies at once, in ``on_start``.
    """

    def __init__(
        self, inner: SpanProcessor, *, heartbeat_s: float = 30.0, delay_s: float = 0.1
    ) -> None:
        if heartbeat_s <= 0:
            raise ValueError("heartbeat_s must be positive")
        if delay_s < 0:
            raise ValueError("delay_s must not be negative")
        self._inner = inner
        self._heartbeat_s = heartbeat_s
        self._delay_s = delay_s
        # Started spans awaiting their copy, each with whether it is still to be classified
        # (it had no attributes at its start).
        self._started: deque[tuple[Span, bool]] = deque(maxlen=_MAX_WAITING_SPANS)
        self._open_runs: dict[int, Span] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        after_fork_in_child(self._reset_after_fork)

    def _reset_after_fork(self) -> None:
        # The child has none of the parent's threads nor its spans in flight.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._started.clear()
        self._open_runs.clear()
        self._thread = None

    @property
    def inner(self) -> SpanProcessor:
        """The wrapped processor."""
        return self._inner

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Queue an agent span for its pending copy; track open runs for heartbeats."""
        self._inner.on_start(span, parent_context)
        try:
            attributes = span.attributes or {}
            is_agent, is_run = _classify(attributes)
            # A span whose kind is set just after its start (Strands starts its spans bare,
            # the Traceloop SDK with only its context's keys) is told apart when its copy is
            # due, by the attributes it has by then.
            later = not is_agent and _kind_comes_later(attributes)
            if not is_agent and not later:
                return
            if is_run:
                self._track_run(span)
            if self._delay_s <= 0 and not later:
                self._send_pending(span)
                return
            self._started.append((span, later))
            if not self._wake.is_set():
                self._wake.set()
            if self._thread is None:
                self._start_thread()
        except Exception:  # SpanProcessor.on_start must not raise into the agent
            logger.debug("could not queue pending span", exc_info=True)

    def on_end(self, span: ReadableSpan) -> None:
        """Forward the real span; a run that ends gets no more heartbeats and goes out now."""
        ended_run = None
        if self._open_runs:
            context = span.context
            if context is not None:
                # atomic; beat() copies the values
                ended_run = self._open_runs.pop(context.span_id, None)
        self._inner.on_end(span)
        if ended_run is not None:
            export_soon = getattr(self._inner, "export_soon", None)
            if export_soon is not None:
                export_soon()

    def shutdown(self) -> None:
        """Send the copies still due and a last copy of each run still open (marked open
        at exit), stop the thread, shut the wrapped processor down."""
        self._stopped.set()
        self._wake.set()
        self.send_pending()
        with self._lock:
            runs = list(self._open_runs.values())
            self._open_runs.clear()
        now_ns = time.time_ns()
        for span in runs:
            self._send_pending(span, end_ns=now_ns, at_exit=True)
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Send the copies still due now, then flush the wrapped processor."""
        self.send_pending()
        return self._inner.force_flush(timeout_millis)

    def send_pending(self) -> int:
        """Copy every queued span that is still open; returns how many copies were sent."""
        sent = 0
        while True:
            try:
                span, unclassified = self._started.popleft()
            except IndexError:
                return sent
            if span.end_time is not None:
                continue
            if unclassified:
                # Only a run: a run must show live, a step needs only to arrive when it ends.
                if not _classify(_attributes_snapshot(span))[1]:
                    continue
                self._track_run(span)
            if self._send_pending(span):
                sent += 1

    def beat(self) -> int:
        """Send one heartbeat now; returns how many pending run copies were sent."""
        with self._lock:
            runs = list(self._open_runs.values())[:_MAX_HEARTBEATS_PER_BEAT]
        now_ns = time.time_ns()
        return sum(1 for span in runs if self._send_pending(span, end_ns=now_ns))

    def _send_pending(
        self, span: Span, *, end_ns: int | None = None, at_exit: bool = False
    ) -> bool:
        if span.end_time is not None:  # ended: its real span is out already
            return False
        copy = pending_copy(span, end_ns=end_ns, at_exit=at_exit)
        if copy is None:
            return False
        self._inner.on_end(copy)
        return True

    def _track_run(self, span: Span) -> None:
        context = span.context
        if context is None:
            return
        with self._lock:
            if not self._stopped.is_set():
                self._open_runs[context.span_id] = span
        if self._thread is None:
            self._start_thread()

    def _start_thread(self) -> None:
        with self._lock:
            if self._thread is not None or self._stopped.is_set():
                return
            self._thread = threading.Thread(
                target=self._loop, name="agent-audit-pending", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        next_beat = time.monotonic() + self._heartbeat_s
        while not self._stopped.is_set():
            woken = self._wake.wait(max(0.0, next_beat - time.monotonic()))
            try:
                if woken and not self._stopped.is_set():
                    # Let a burst of short steps end first: those need no copy.
                    self._stopped.wait(self._delay_s)
                    self._wake.clear()  # before draining: a later start wakes us again
                    self.send_pending()
                if time.monotonic() >= next_beat:
                    self.beat()
                    next_beat = time.monotonic() + self._heartbeat_s
            except Exception:  # thread boundary
                logger.debug("pending span thread failed", exc_info=True)
