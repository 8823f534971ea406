"""Haystack messages read from several threads at once keep every tool result they hold.

On CPython 3.11 two threads building ASTs at once fail one of them with ``SystemError: AST
constructor recursion depth mismatch`` (a thread switch inside a garbage collection is
enough); the collector's writer and API threads read reprs at once (collector/python_literals.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from collector.rules.haystack_reprs import chat_message
from tests.thread_switches import threads_switch_often

THREADS = 4
READS_PER_THREAD = 80
VALUE = [{"a": [1, (2, 3), {"b": "x" * 40}], "c": [[[[i]]]]} for i in range(60)]
# A tool's result for a model call, as openinference-instrumentation-haystack records it.
HAYSTACK_TOOL_RESULT = (
    "ChatMessage(_role=<ChatRole.TOOL: 'tool'>, _content=[ToolCallResult(result='tick 18 "
    f"counted', origin=ToolCall(tool_name='tick', arguments={{'rows': {VALUE!r}}}, "
    "id='call_18', extra=None), error=False)], _name=None, _meta={})"
)


@pytest.fixture
def collections_switch_threads() -> Iterator[None]:
    with threads_switch_often(50):
        yield


def _in_threads(read: Any) -> list[BaseException]:
    errors: list[BaseException] = []

    def reader() -> None:
        for _ in range(READS_PER_THREAD):
            try:
                read()
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.usefixtures("collections_switch_threads")
def test_haystack_messages_read_in_several_threads_keep_their_tool_results() -> None:
    results: list[Any] = []

    def read() -> None:
        message = chat_message(HAYSTACK_TOOL_RESULT)
        results.append(message and message.get("tool_results"))

    assert _in_threads(read) == []
    assert len(results) == THREADS * READS_PER_THREAD
    assert all(
        r and r[0]["result"] == "tick 18 counted" and r[0]["arguments"] == {"rows": VALUE}
        for r in results
    ), results[:3]
