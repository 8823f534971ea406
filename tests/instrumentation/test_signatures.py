"""The public API's signatures: how mypy checks users' calls, and misspelt keywords at run time."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api as mypy_api

from instrumentation import RunHandle, agent_run

USAGE = Path(__file__).with_name("typing_usage.py")

# Only the instrumentation package and the usage file are analysed; what it
# imports (OpenTelemetry, agent frameworks) is taken as Any, which keeps the
# check to about a second.
MYPY_CONFIG = """\
[mypy]
python_version = 3.11
ignore_missing_imports = true
follow_imports = skip
[mypy-instrumentation.*]
follow_imports = normal
"""


def test_context_manager_and_decorator_forms_type_check(tmp_path: Path) -> None:
    config = tmp_path / "mypy.ini"
    config.write_text(MYPY_CONFIG)
    stdout, stderr, status = mypy_api.run(
        ["--config-file", str(config), "--cache-dir", str(tmp_path / "cache"), str(USAGE)]
    )
    assert status == 0, stdout + stderr
    assert "Success" in stdout


def test_mypy_names_every_run_keyword_in_its_message(tmp_path: Path) -> None:
    usage = tmp_path / "wrong_keyword.py"
    usage.write_text('from instrumentation import agent_run\nagent_run("t", agent_nam="ops")\n')
    config = tmp_path / "mypy.ini"
    config.write_text(MYPY_CONFIG)
    stdout, _, status = mypy_api.run(
        ["--config-file", str(config), "--cache-dir", str(tmp_path / "cache"), str(usage)]
    )
    assert status == 1
    assert 'did you mean "agent_name"?' in stdout
    expanded = (
        "def agent_run(task: str | None = ..., *, agent_name: str | None = ..., "
        "source: str | None = ..., triggered_by: str | None = ..., "
        "model_requested: str | None = ..., backend: str | None = ..., "
        "working_directory: str | None = ..., metadata: Any = ..., "
        "provider: str | None = ...) -> RunScope"
    )
    assert expanded in stdout


def test_a_misspelt_run_keyword_raises_type_error_at_the_call() -> None:
    with pytest.raises(TypeError, match="agent_run\\(\\) got an unexpected keyword argument"):
        agent_run("t", agent_nam="ops")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="agent_run\\(\\) got an unexpected keyword argument"):
        agent_run(agnt_name="ops")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="RunHandle\\(\\) got an unexpected keyword argument"):
        RunHandle("t", bogus=1)  # type: ignore[call-arg]
