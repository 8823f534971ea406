"""The conversation shapes (sessions_scenario.py) on DSPy's ``ReAct``, traced by
openinference-instrumentation-dspy in a virtualenv with the packages its entry names.
ReAct asks the model for one tool a turn in its own text format, so the shapes are written
in it: tools answering odd results, a tool called with a wrong argument (ReAct tells the
model the error as the step's observation) and a tool the agent does not have; run by
capture_sessions_more.py."""

from __future__ import annotations

import json
import os
from typing import Any

from tests.frameworks.captured import sessions_scenario as S
from tests.frameworks.captured.capture_driver import Framework
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM, Turn, answer

SHAPES = ("results", "bad_args", "unknown_tool")
PACKAGES = ("dspy", "openinference-instrumentation-dspy", "litellm")


def _fields(tokens: int, **values: str) -> Turn:
    """A turn in ReAct's field format, its prompt counted ``tokens``."""
    text = "".join(f"[[ ## {name} ## ]]\n{value}\n\n" for name, value in values.items())
    return answer(text + "[[ ## completed ## ]]", input_tokens=tokens, output_tokens=4)


def _step(tool: str, arguments: dict[str, Any], tokens: int) -> Turn:
    return _fields(tokens, next_thought=f"Call {tool}.", next_tool_name=tool,
                   next_tool_args=json.dumps(arguments))  # fmt: skip


def _ending(text: str) -> list[Turn]:
    return [_step("finish", {}, 64), _fields(65, reasoning="Done.", answer=text)]


def _dspy(capture: Capture, llm: ScriptedLLM) -> dict[str, S.Outcome]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
    import dspy
    from openinference.instrumentation.dspy import DSPyInstrumentor

    DSPyInstrumentor().instrument(tracer_provider=capture.provider)
    tools = S.Tools()
    tasks = S.tasks_of("[sessions-dspy]")
    llm.script(tasks["results"], [_step("nothing", {"key": "empty"}, 61),
                                  _step("list_files", {"folder": "/tmp/x"}, 62),
                                  _step("read_log", {"name": "big"}, 63),
                                  *_ending(S.RESULTS_ANSWER)])  # fmt: skip
    for shape, wrong in (
        ("bad_args", _step("get_weather", {"town": "Paris"}, 71)),
        ("unknown_tool", _step(S.UNKNOWN_TOOL, {"city": "Paris"}, 72)),
    ):
        right = _step("get_weather", {"city": "Paris"}, 81)
        llm.script(tasks[shape], [wrong, right, *_ending(S.RETRIED_ANSWER)])
    lm = dspy.LM(f"openai/{S.MODEL}", api_base=llm.base_url, api_key="none", cache=False,
                 num_retries=0)  # fmt: skip
    dspy.configure(lm=lm)
    own = [tools.get_weather, tools.nothing, tools.list_files, tools.read_log]
    agent = dspy.ReAct("question -> answer", tools=own, max_iters=8)
    out = {
        shape: S.outcome(tasks[shape], lambda t=tasks[shape]: agent(question=t).answer)
        for shape in SHAPES
    }
    out["tool_calls"] = tools.calls
    return out


FRAMEWORKS: dict[str, Framework] = {"dspy": (PACKAGES, _dspy)}
