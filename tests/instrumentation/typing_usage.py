# mypy: warn-unused-ignores
"""Calls users write, type-checked by test_signatures.py (never imported or run).

Each ``assert_type`` pins what a form gives back; each ``# type: ignore[code]``
pins an error mypy must report (an unneeded ignore is itself an error here).
"""

from __future__ import annotations

from typing import assert_type

from instrumentation import RunHandle, StepHandle, agent_run, current_run, tool_step, traced_tool
from instrumentation.run import RunScope


def context_manager() -> None:
    first_half = agent_run("t", agent_name="ops", source="cli", triggered_by="alice")
    assert_type(first_half, RunScope)
    second_half = agent_run("t", model_requested="qwen", backend="3090", working_directory="/")
    assert_type(second_half, RunScope)
    with agent_run("task", metadata={"ticket": 1}, provider="ollama") as run:
        assert_type(run, RunHandle)
        with run.step("tool_call", tool_name="ps", tool_args={}) as step:
            assert_type(step, StepHandle)
        with tool_step("ps") as tool:
            assert_type(tool, StepHandle)
    assert_type(agent_run("t", agent_name=None, metadata=None), RunScope)
    assert_type(agent_run(), RunScope)
    assert_type(agent_run(task="t"), RunScope)
    assert_type(current_run(), RunHandle | None)


async def async_context_manager() -> None:
    async with agent_run("task", source="api") as run:
        assert_type(run, RunHandle)
        async with run.step("think") as step:
            assert_type(step, StepHandle)


@agent_run
def bare(task: str, count: int) -> str:
    return task * count


@agent_run(agent_name="ops", source="cli")
def with_options(task: str) -> int:
    return len(task)


@agent_run("fixed task")
async def coroutine(x: float) -> float:
    return x


@traced_tool
def tool(flag: bool = False) -> str:
    return str(flag)


async def decorated_calls() -> None:
    assert_type(bare("t", 2), str)
    assert_type(with_options("t"), int)
    assert_type(await coroutine(1.0), float)
    assert_type(tool(flag=True), str)


def rejected() -> None:
    agent_run("t", agent_nam="ops")  # type: ignore[call-overload]
    agent_run("t", agent_name=3)  # type: ignore[call-overload]
    agent_run("t", "ops")  # type: ignore[call-overload]
    agent_run(3)  # type: ignore[call-overload]
    bare("t", "2")  # type: ignore[arg-type]
    with_options()  # type: ignore[call-arg]
    RunHandle("t", bogus=1)  # type: ignore[call-arg]
    with agent_run("t") as run:
        run.step("think", tool_nam="x")  # type: ignore[call-arg]
