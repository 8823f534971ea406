"""Values an agent hands the library (odd str subclasses, integer-likes, broken reprs).

None crashes the agent: each call either records the value or raises a
ValueError naming the argument, never the value's own error.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import instrumentation
from tests.instrumentation.conftest import Spans


class _HostileStr(str):
    """A str whose own methods all raise: only its character data is usable."""

    def __str__(self) -> str:
        raise RuntimeError("__str__")

    def __len__(self) -> int:
        raise RuntimeError("__len__")

    def __bool__(self) -> bool:
        raise RuntimeError("__bool__")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("__eq__")

    def __hash__(self) -> int:
        raise RuntimeError("__hash__")

    def isascii(self) -> bool:
        raise RuntimeError("isascii")

    def encode(self, *args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("encode")


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("__str__")

    def __repr__(self) -> str:
        raise RuntimeError("__repr__")


class _IndexInt:
    """An integer that is not an int: numpy.int64 and friends implement __index__."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


def test_str_subclasses_with_raising_methods_are_recorded_as_their_text(spans: Spans) -> None:
    def hostile(text: str) -> _HostileStr:
        return _HostileStr(text)

    with instrumentation.agent_run(
        hostile("why\ud800"),
        agent_name=hostile("ops"),
        metadata=hostile('{"k": 1}'),
        source=hostile("cli"),
        model_requested=hostile("m1"),
    ) as run:
        with run.step(
            hostile("tool_call"),
            tool_name=hostile("ls"),
            tool_args=hostile("-la"),
            tool_call_id=hostile("c1"),
        ) as step:
            step.set_result(hostile("out"))
        with run.step(hostile("think"), model=hostile("m2")) as think:
            think.set_thinking(hostile("hm"))
            think.set_model(hostile("m3"))
        run.set_model_used(hostile("m3"))
        run.finish(hostile("done"), status=hostile("completed"))

    root = spans.named("invoke_agent ops")
    assert root.attributes is not None
    assert root.attributes["agent_run.task"] == "why\ufffd"
    assert root.attributes["agent_run.metadata"] == '{"k": 1}'
    assert root.attributes["agent_run.final_answer"] == "done"
    assert root.attributes["agent_run.status"] == "completed"
    tool = spans.named("execute_tool ls")
    assert tool.attributes is not None
    assert tool.attributes["gen_ai.tool.call.arguments"] == "-la"
    assert tool.attributes["gen_ai.tool.call.id"] == "c1"
    assert tool.attributes["gen_ai.tool.call.result"] == "out"
    think_span = spans.named("chat m2")
    assert think_span.attributes is not None
    assert think_span.attributes["gen_ai.response.model"] == "m3"


def test_bad_arguments_with_broken_reprs_get_the_libraries_value_error(spans: Spans) -> None:
    with instrumentation.agent_run("t") as run:
        with pytest.raises(ValueError, match="unknown action_type <unrepresentable"):
            run.step(_Unprintable())  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="unknown run status"):
            run.finish(status=_Unprintable())  # type: ignore[arg-type]
        with run.step("think") as step:
            with pytest.raises(ValueError, match="input_tokens must be a non-negative integer"):
                step.set_tokens(input_tokens=_Unprintable())  # type: ignore[arg-type]
    assert spans.named("invoke_agent").attributes["agent_run.status"] == "completed"  # type: ignore[index]


def test_integer_like_token_counts_are_taken_and_out_of_range_ones_refused(spans: Spans) -> None:
    with instrumentation.agent_run("t") as run:
        with run.step("think", model="m") as step:
            step.set_tokens(input_tokens=_IndexInt(7), output_tokens=_IndexInt(2))  # type: ignore[arg-type]
            for bad in (2**63, -1, True, 1.0, "3"):
                with pytest.raises(ValueError, match="must be a non-negative integer"):
                    step.set_tokens(input_tokens=bad)  # type: ignore[arg-type]
    step_span = spans.named("chat m")
    assert step_span.attributes is not None
    assert step_span.attributes["gen_ai.usage.input_tokens"] == 7
    assert type(step_span.attributes["gen_ai.usage.input_tokens"]) is int
    run_span = spans.named("invoke_agent")
    assert run_span.attributes is not None
    assert run_span.attributes["gen_ai.usage.input_tokens"] == 7
    assert run_span.attributes["gen_ai.usage.output_tokens"] == 2


def test_one_scope_entered_by_several_threads_ends_each_threads_own_run(spans: Spans) -> None:
    scope = instrumentation.agent_run("shared")
    entered = [threading.Event() for _ in range(4)]
    leave = [threading.Event() for _ in range(4)]
    finished: list[str] = []
    problems: list[BaseException] = []

    def work(index: int) -> None:
        try:
            with scope as run:
                run.finish(f"answer {index}")
                entered[index].set()
                assert leave[index].wait(timeout=30)
                assert instrumentation.current_run() is run
                assert run.status == "running"  # no other thread's exit ended it
            finished.append(run.id)
        except BaseException as exc:  # reported below, not lost in the thread
            problems.append(exc)
        finally:
            if index + 1 < len(leave):
                leave[index + 1].set()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for index, thread in enumerate(threads):  # entered in order 0..3
        thread.start()
        assert entered[index].wait(timeout=30)
    leave[0].set()  # left in the same order: the first to leave is not the latest entered
    for thread in threads:
        thread.join(timeout=60)
    assert not problems
    assert len(finished) == 4
    answers = {
        s.attributes["agent_run.id"]: s.attributes["agent_run.final_answer"]  # type: ignore[index]
        for s in spans.real()
        if s.name == "invoke_agent"
    }
    assert [answers[run_id] for run_id in finished] == [f"answer {i}" for i in range(4)]


def test_one_scope_entered_by_several_tasks_ends_each_tasks_own_run(spans: Spans) -> None:
    scope = instrumentation.agent_run("shared")

    async def one(index: int, started: asyncio.Event, leave: asyncio.Event) -> str:
        async with scope as run:
            run.finish(f"answer {index}")
            started.set()
            await leave.wait()
            assert instrumentation.current_run() is run
            assert run.status == "running"  # no other task's exit ended it
        return run.id

    async def main() -> list[str]:
        started = [asyncio.Event() for _ in range(3)]
        leave = [asyncio.Event() for _ in range(3)]
        tasks = [asyncio.create_task(one(i, started[i], leave[i])) for i in range(3)]
        for event in started:
            await asyncio.wait_for(event.wait(), 30)
        ids = []
        for index in (0, 2, 1):  # not the reverse of entry
            leave[index].set()
            ids.append(await asyncio.wait_for(tasks[index], 30))
        return ids

    ids = asyncio.run(main())
    runs = {
        s.attributes["agent_run.id"]: s.attributes["agent_run.final_answer"]  # type: ignore[index]
        for s in spans.real()
        if s.name == "invoke_agent"
    }
    assert {runs[run_id] for run_id in ids} == {"answer 0", "answer 1", "answer 2"}
    assert [runs[ids[0]], runs[ids[1]], runs[ids[2]]] == ["answer 0", "answer 2", "answer 1"]
