"""instrument()'s ``frameworks``: a single name given as a string is that name, not its letters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from instrumentation import auto


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    provider = TracerProvider()
    yield provider
    auto.uninstrument()
    provider.shutdown()


def test_one_framework_named_by_a_string_is_enabled(provider: TracerProvider) -> None:
    # openai and its OpenTelemetry instrumentation are in the project's environment.
    assert auto.instrument(tracer_provider=provider, frameworks="openai") == ["openai"]


def test_an_unknown_name_given_as_a_string_is_named_in_the_error(
    provider: TracerProvider,
) -> None:
    with pytest.raises(ValueError, match=r"unknown frameworks \['nope'\]"):
        auto.instrument(tracer_provider=provider, frameworks="nope")
