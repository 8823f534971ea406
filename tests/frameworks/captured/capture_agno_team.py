"""Run an Agno ``Team`` (traced by openinference-instrumentation-agno) against the scripted
model: its leader delegates to a member agent, which calls a tool and answers; write the spans
it exported, as OTLP protobuf, plus what the team and its member returned.

    VENV/bin/python -m tests.frameworks.captured.capture_agno_team [OUT_DIR]

Needs tests/frameworks/venv_agents/requirements-agno.txt (``bash
scripts/install-framework-venv.sh agno``); the versions used are written into the
expectations file. OUT_DIR defaults to this folder (the committed capture).
"""

from __future__ import annotations

import sys
from pathlib import Path

from agno.agent import Agent
from agno.models.openai import OpenAIChat
from agno.team import Team
from openinference.instrumentation.agno import AgnoInstrumentor

from tests.frameworks.captured.capture_agno import PACKAGES
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM, answer, call_tool

HERE = Path(__file__).parent
TASK = "[agno-team] What should I pack for Paris?"
MEMBER_TASK = "[agno-team-member] What is the weather in Paris?"
MEMBER_ID = "weather-agent"
WEATHER = "sunny in Paris"


def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"sunny in {city}"


def main(out: Path) -> None:
    capture = Capture(out, PACKAGES)
    AgnoInstrumentor().instrument(tracer_provider=capture.provider)
    with ScriptedLLM() as llm:
        delegate = {"member_id": MEMBER_ID, "task": MEMBER_TASK}
        llm.script(TASK, [call_tool("delegate_task_to_member", delegate), answer("Pack light.")])
        llm.script(MEMBER_TASK, [call_tool("get_weather", {"city": "Paris"}), answer(WEATHER)])

        def model() -> OpenAIChat:
            return OpenAIChat(id="scripted-agno", base_url=llm.base_url, api_key="none")

        member = Agent(name="Weather Agent", id=MEMBER_ID, model=model(), tools=[get_weather])
        team = Team(name="Travel Team", members=[member], model=model())
        done = team.run(TASK)
        capture.expected["team"] = {
            "name": "Travel Team",
            "task": TASK,
            "answer": done.content,
            "status": str(done.status),
            "delegated": delegate,
        }
        (reply,) = done.member_responses
        capture.expected["member"] = {
            "name": "Weather Agent",
            "task": MEMBER_TASK,
            "answer": reply.content,
            "tools": [
                {"name": t.tool_name, "args": t.tool_args, "result": t.result} for t in reply.tools
            ],
        }
    capture.write_spans("agno_team.otlp")
    capture.write_expected("agno_team.expected.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
