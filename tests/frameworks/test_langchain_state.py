"""A LangGraph graph whose state has no messages: its task and answer read off the states."""

from __future__ import annotations

import json

from collector.rules.langchain_state import state_answer, state_task

INPUT = json.dumps({"question": "Weather in Paris and Rome?", "reports": [], "summary": ""})
OUTPUT = json.dumps(
    {"question": "Weather in Paris and Rome?", "reports": ["a", "b"], "summary": "a; b"}
)


def test_the_task_is_the_input_state_s_one_text_field() -> None:
    assert state_task(INPUT) == "Weather in Paris and Rome?"
    assert state_task({"outputs": json.loads(INPUT)}) == "Weather in Paris and Rome?"


def test_the_answer_is_the_one_text_field_the_graph_wrote() -> None:
    assert state_answer(INPUT, OUTPUT) == "a; b"


def test_no_guess_when_several_fields_or_a_message_state() -> None:
    several = json.dumps({"question": "q", "city": "Paris"})
    assert state_task(several) is None
    assert state_answer("{}", json.dumps({"summary": "s", "title": "t"})) is None
    assert state_task(json.dumps({"messages": [], "question": "q"})) is None
    assert state_answer(INPUT, INPUT) is None  # it wrote nothing
    resume = json.dumps({"graph": None, "update": None, "resume": "yes", "goto": []})
    assert state_task(resume) is None  # a Command resuming a paused graph is no request
    assert state_task(json.dumps({"inputs": json.loads(resume)})) is None  # OpenLLMetry's
