"""A LangChain chain invoked on its own: task and answer read off what it was given and
returned, as OpenInference (``input.value`` / ``output.value``) and OpenLLMetry
(``{"inputs": ...}`` / ``{"outputs": ...}``) record them."""

from __future__ import annotations

import json

from collector.rules.langchain_chains import run_answer, run_task

AI_OPENINFERENCE = {"type": "ai", "data": {"content": "hello there", "tool_calls": []}}
AI_OPENLLMETRY = {
    "lc": 1,
    "type": "constructor",
    "id": ["langchain", "schema", "messages", "AIMessage"],
    "kwargs": {"content": "hello there", "type": "ai"},
}


def _llmetry(key: str, value: object) -> str:
    return json.dumps({key: value, "kwargs": {"tags": []}})


def test_a_chain_s_task_is_its_text_or_one_prompt_variable() -> None:
    assert run_task("What is the capital of France?") == "What is the capital of France?"
    assert run_task(json.dumps({"text": "Hello world"})) == "Hello world"
    assert run_task(_llmetry("inputs", {"text": "Hello world"})) == "Hello world"
    assert run_task(_llmetry("inputs", "Bonjour?")) == "Bonjour?"
    assert run_task(json.dumps({"q": "a", "lang": "fr"})) is None  # several: no guess


def test_a_chain_s_answer_is_what_it_returned() -> None:
    given = json.dumps({"text": "Hello world"})
    assert run_answer(given, "Bonjour le monde") == "Bonjour le monde"
    assert run_answer(given, _llmetry("outputs", "Bonjour le monde")) == "Bonjour le monde"
    parsed = {"name": "Paris", "country": "France"}
    assert json.loads(run_answer("capital?", json.dumps(parsed)) or "") == parsed
    assert json.loads(run_answer("capital?", _llmetry("outputs", parsed)) or "") == parsed
    assert run_answer(given, _llmetry("outputs", 42)) == "42"


def test_a_returned_chat_message_answers_with_its_text_not_its_envelope() -> None:
    given = json.dumps({"question": "Say hello."})
    assert run_answer(given, json.dumps(AI_OPENINFERENCE)) == "hello there"
    assert run_answer(given, _llmetry("outputs", AI_OPENLLMETRY)) == "hello there"
    asking = {"type": "ai", "data": {"content": "", "tool_calls": [{"name": "City"}]}}
    assert run_answer(given, json.dumps(asking)) is None


def test_a_graph_s_state_is_no_chain_answer() -> None:
    state_in = {"question": "q", "notes": "", "summary": ""}
    state_out = {"question": "q", "notes": "n", "summary": "s"}  # two fields written
    assert run_answer(json.dumps(state_in), json.dumps(state_out)) is None
    assert run_answer(_llmetry("inputs", state_in), _llmetry("outputs", state_out)) is None
