"""The guard in ``tests/conftest.py``: a test that leaves a span current, or the global
tracer provider changed, fails, and the tests after it start clean."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

LEAKY_TESTS = textwrap.dedent(
    """
    import pytest
    from opentelemetry import context, trace
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("leaky")

    def test_leaves_a_span_current():
        context.attach(trace.set_span_in_context(tracer.start_span("left-open")))

    def test_after_it_finds_no_span():
        assert not trace.get_current_span().get_span_context().is_valid

    def test_sets_the_global_provider():
        trace.set_tracer_provider(TracerProvider())

    def test_after_it_finds_the_provider_as_it_was():
        assert not isinstance(trace.get_tracer_provider(), TracerProvider)

    def test_configures_instrumentation_as_an_agent_would():
        import instrumentation

        instrumentation.configure(endpoint="http://127.0.0.1:1", cancel_poll_s=None)
        assert isinstance(trace.get_tracer_provider(), TracerProvider)
        instrumentation.shutdown(0)

    def test_after_it_finds_no_provider_of_the_ended_configuration():
        assert not isinstance(trace.get_tracer_provider(), TracerProvider)

    def test_detaches_what_it_attaches():
        token = context.attach(trace.set_span_in_context(tracer.start_span("closed")))
        context.detach(token)

    @pytest.fixture(scope="module")
    def leaky_module_fixture():
        context.attach(trace.set_span_in_context(tracer.start_span("module-wide")))
        yield

    def test_uses_a_leaky_module_fixture(leaky_module_fixture):
        pass
    """
)


def test_a_test_leaving_opentelemetry_state_changed_fails_and_the_next_starts_clean(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_leaky.py").write_text(LEAKY_TESTS)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.conftest",
            "-n",
            "0",
            "--rootdir",
            str(tmp_path),
            "-rA",
            str(tmp_path / "test_leaky.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert "ERROR test_leaky.py::test_leaves_a_span_current" in out, out
    assert "span 'left-open'" in out, out
    assert "PASSED test_leaky.py::test_after_it_finds_no_span" in out, out
    assert "ERROR test_leaky.py::test_sets_the_global_provider" in out, out
    assert "the global tracer provider changed" in out, out
    assert "PASSED test_leaky.py::test_after_it_finds_the_provider_as_it_was" in out, out
    assert "PASSED test_leaky.py::test_detaches_what_it_attaches" in out, out
    # configure() installing its provider is what it does for an agent: put back, not failed
    assert "PASSED test_leaky.py::test_configures_instrumentation_as_an_agent_would" in out, out
    assert "ERROR test_leaky.py::test_configures_instrumentation_as_an_agent_would" not in out
    assert "PASSED test_leaky.py::test_after_it_finds_no_provider_of_the_ended_configuration" in out
    assert "ERROR test_leaky.py::test_uses_a_leaky_module_fixture" in out, out
    assert "a wider fixture's doing" in out and "span 'module-wide'" in out, out
