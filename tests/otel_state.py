"""The process-wide OpenTelemetry state a test may leave changed: the current context (a span
left current becomes the parent, and gives its trace id, to every later span of the process)
and the global tracer provider.

``tests/conftest.py`` snapshots it around every test and puts it back after. A test or
fixture that leaves a context attached, or installs a provider of its own globally, fails.
The provider ``instrumentation.configure()`` installs is put back without a failure: that
install is what configure() does for an agent (once per process, as the OpenTelemetry API
allows), and the tests of it run in this process; left in place, later tests would find a
shut-down provider as the global one.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import trace

from instrumentation import setup as instrumentation_setup

__all__ = ["OtelState", "describe_change", "restore", "snapshot"]


@dataclass(frozen=True)
class OtelState:
    """What a test found, to compare with what it leaves."""

    context: otel_context.Context
    tracer_provider: object


def snapshot() -> OtelState:
    """The current state: two reads, cheap enough for every test."""
    return OtelState(otel_context.get_current(), trace._TRACER_PROVIDER)


def _span_name(ctx: otel_context.Context) -> str:
    span = trace.get_current_span(ctx)
    if not span.get_span_context().is_valid:
        return "no span"
    name = getattr(span, "name", type(span).__name__)
    return f"span {name!r} (trace {span.get_span_context().trace_id:032x})"


def describe_change(before: OtelState, after: OtelState) -> list[str]:
    """What differs, in words; empty when nothing does.

    Contexts compare by content: a context attached again with the same values harms
    no later span.
    """
    changes = []
    if dict(after.context) != dict(before.context):
        changes.append(
            f"the current OpenTelemetry context changed: {_span_name(after.context)} is "
            f"current, {_span_name(before.context)} was (a context attached and never "
            "detached, e.g. a span made current in this thread and ended in another)"
        )
    if after.tracer_provider is not before.tracer_provider and not installed_by_configure(
        after.tracer_provider
    ):
        changes.append(
            f"the global tracer provider changed from {before.tracer_provider!r} to "
            f"{after.tracer_provider!r} (set it in a subprocess, or pass a provider)"
        )
    return changes


def installed_by_configure(provider: object) -> bool:
    """Whether ``provider`` is one ``instrumentation.configure()`` made."""
    return any(provider is ours for ours in instrumentation_setup._our_providers)


def holds_a_shut_down_configuration(state: OtelState) -> bool:
    """Whether the global provider is one configure() made and shutdown() has ended since."""
    live = instrumentation_setup._state
    return installed_by_configure(state.tracer_provider) and (
        live is None or live.provider is not state.tracer_provider
    )


def restore(state: OtelState) -> None:
    """Put ``state`` back as the process's current context and global provider."""
    otel_context.attach(state.context)  # the token is dropped: nothing is to detach it
    trace._TRACER_PROVIDER = state.tracer_provider  # type: ignore[assignment]
    trace._TRACER_PROVIDER_SET_ONCE._done = state.tracer_provider is not None
