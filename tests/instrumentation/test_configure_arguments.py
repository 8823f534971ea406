"""configure()'s time arguments and variables: one that spins a thread or unbounds exit is refused.

Zero, negative, NaN or tiny intervals made the heartbeat, spool replay or cancel
poll threads busy-loop (NaN compares false with every deadline); infinite or NaN
shutdown times made the exit flush unbounded. Each gets a ValueError naming the
argument, and nothing is configured, so a corrected call still works.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import instrumentation
from instrumentation import setup

_BAD_SECONDS = [0, -1, float("nan"), float("inf"), 1e-9, "5", True, None]


def _cases() -> list[tuple[str, Any]]:
    cases = []
    for name in ("heartbeat_s", "spool_retry_s", "export_timeout_s"):
        cases += [(name, value) for value in _BAD_SECONDS if value is not None]
    cases += [("cancel_poll_s", value) for value in (-1, float("nan"), float("inf"), 1e-9, "1")]
    cases += [("shutdown_timeout_s", value) for value in (-1, float("nan"), float("inf"), "5")]
    cases += [("schedule_delay_ms", value) for value in (-5, 0.5, float("nan"), float("inf"))]
    return cases


@pytest.mark.parametrize(("name", "value"), _cases())
def test_bad_time_arguments_raise_value_error_naming_them(
    name: str, value: Any, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=name):
        instrumentation.configure(
            endpoint="http://127.0.0.1:9", spool_dir=tmp_path, **{name: value}
        )
    assert setup._state is None  # nothing half-configured: a corrected call starts afresh
    configuration = instrumentation.configure(
        endpoint="http://127.0.0.1:9", spool_dir=tmp_path, cancel_poll_s=None
    )
    assert configuration.installed_provider


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("heartbeat_s", setup.MIN_INTERVAL_S),
        ("spool_retry_s", setup.MIN_INTERVAL_S),
        ("cancel_poll_s", 0),  # off
        ("cancel_poll_s", None),  # off
        ("shutdown_timeout_s", 0),
        ("export_timeout_s", 0.5),
        ("schedule_delay_ms", 1),
    ],
)
def test_limits_themselves_and_off_values_are_accepted(
    name: str, value: Any, tmp_path: Path
) -> None:
    configuration = instrumentation.configure(
        endpoint="http://127.0.0.1:9", spool_dir=tmp_path, **{name: value}
    )
    assert configuration.installed_provider


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("OTEL_BSP_SCHEDULE_DELAY", "nan"),
        ("OTEL_BSP_SCHEDULE_DELAY", "inf"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "nan"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "-1"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "inf"),
    ],
)
def test_bad_time_variables_raise_value_error_naming_them(
    name: str, raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, raw)
    with pytest.raises(ValueError, match=name):
        instrumentation.configure(endpoint="http://127.0.0.1:9", cancel_poll_s=None)
    assert setup._state is None
