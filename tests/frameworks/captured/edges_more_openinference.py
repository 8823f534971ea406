"""The edge shapes (edges_more_scenario.py) on Haystack, DSPy and BeeAI, each traced by its
OpenInference instrumentor in a virtualenv of its own (the packages capture_edges_more.py
names); run by capture_edges_more.py."""

from __future__ import annotations

import json
import os
from typing import Any

from tests.frameworks.captured import edges_more_scenario as M
from tests.frameworks.captured import edges_scenario as E
from tests.frameworks.captured.capture_driver import Framework
from tests.frameworks.captured.capture_files import Capture
from tests.scripted_llm import ScriptedLLM


def _haystack(capture: Capture, llm: ScriptedLLM) -> dict[str, M.Outcome]:
    from haystack.components.agents import Agent
    from haystack.components.generators.chat import OpenAIChatGenerator
    from haystack.dataclasses import ChatMessage
    from haystack.tools import create_tool_from_function
    from haystack.utils import Secret
    from openinference.instrumentation.haystack import HaystackInstrumentor

    HaystackInstrumentor().instrument(tracer_provider=capture.provider)
    tools = M.Tools()

    def ask(task: str) -> str | None:
        generator = OpenAIChatGenerator(api_key=Secret.from_token("none"), model=M.MODEL,
                                        api_base_url=llm.base_url, max_retries=0)  # fmt: skip
        own = [tools.tick, tools.lookup, tools.open_vault]
        agent = Agent(chat_generator=generator,
                      tools=[create_tool_from_function(f) for f in own],
                      max_agent_steps=3 * E.LONG_CALLS)  # fmt: skip
        done = agent.run(messages=[ChatMessage.from_user(task)])
        return done["last_message"].text  # type: ignore[no-any-return]

    tasks = M.script(llm, "[edges-haystack]")
    return M.outcomes(tasks, ask)


def _dspy(capture: Capture, llm: ScriptedLLM) -> dict[str, M.Outcome]:
    """DSPy's ReAct asks for its fields in its own text format: the shapes' turns are written
    in it (each tool call a step, then ``finish``, then the answer)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
    import dspy
    from openinference.instrumentation.dspy import DSPyInstrumentor

    from tests.scripted_llm import Turn, answer

    DSPyInstrumentor().instrument(tracer_provider=capture.provider)
    tools = M.Tools()

    def fields(**values: str) -> Turn:
        text = "".join(f"[[ ## {name} ## ]]\n{value}\n\n" for name, value in values.items())
        return answer(text + "[[ ## completed ## ]]")

    def step(tool: str, arguments: dict[str, Any]) -> Turn:
        return fields(next_thought=f"Call {tool}.", next_tool_name=tool,
                      next_tool_args=json.dumps(arguments))  # fmt: skip

    def ending(text: str) -> list[Turn]:
        return [step("finish", {}), fields(reasoning="Done.", answer=text)]

    marker = "[edges-dspy]"
    tasks = M.script(llm, marker)  # the refusal, filter and HTTP 500 turns as they are
    # The others again in DSPy's format (a later script of a task replaces the first).
    llm.script(tasks["long"], [*(step("tick", {"n": n}) for n in range(1, E.LONG_CALLS + 1)),
                               *ending(E.LONG_ANSWER)])  # fmt: skip
    llm.script(tasks["hostile"], [step("lookup", {"query": E.HOSTILE}), *ending(E.HOSTILE_ANSWER)])
    llm.script(tasks["raises"], [step("open_vault", {"code": "1234"}), *ending(M.RAISES_ANSWER)])
    lm = dspy.LM(f"openai/{M.MODEL}", api_base=llm.base_url, api_key="none", cache=False,
                 num_retries=0)  # fmt: skip
    dspy.configure(lm=lm)
    agent = dspy.ReAct("question -> answer", tools=[tools.tick, tools.lookup, tools.open_vault],
                       max_iters=E.LONG_CALLS + 10)  # fmt: skip
    return M.outcomes(tasks, lambda t: agent(question=t).answer)


def _beeai(capture: Capture, llm: ScriptedLLM) -> dict[str, M.Outcome]:
    """A ``RequirementAgent`` answers through its ``final_answer`` tool: the scripted model
    calls it last."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
    from beeai_framework.adapters.openai import OpenAIChatModel
    from beeai_framework.agents.requirement import RequirementAgent
    from beeai_framework.tools import tool
    from openinference.instrumentation.beeai import BeeAIInstrumentor

    from tests.scripted_llm import call_tool

    BeeAIInstrumentor().instrument(tracer_provider=capture.provider)
    tools = M.Tools()

    @tool
    def tick(n: int) -> str:
        """Count one tick."""
        return tools.tick(n)

    @tool
    def lookup(query: str) -> str:
        """Look a query up."""
        return tools.lookup(query)

    @tool
    def open_vault(code: str) -> str:
        """Open the vault with a code."""
        return tools.open_vault(code)

    @tool
    async def wait_forever(seconds: int) -> str:
        """Wait for a slow service."""
        return await tools.wait_forever(seconds)

    def make_agent() -> Any:
        model = OpenAIChatModel(M.MODEL, api_key="none", base_url=llm.base_url)
        own = [tick, lookup, open_vault, wait_forever]
        return RequirementAgent(llm=model, tools=own, name="edge_agent")

    async def ask(task: str) -> str:
        done = await make_agent().run(task, max_iterations=E.LONG_CALLS + 10)
        return str(done.last_message.text)

    final = lambda text: call_tool("final_answer", {"response": text})  # noqa: E731
    tasks = M.script(llm, "[edges-beeai]", final=final)
    out = M.outcomes(tasks, ask)
    out["cancelled"] = E.cancelled(tasks["cancelled"], lambda: ask(tasks["cancelled"]), tools)
    return out


FRAMEWORKS: dict[str, Framework] = {
    "haystack": (("haystack-ai", "openinference-instrumentation-haystack"), _haystack),
    "dspy": (("dspy", "openinference-instrumentation-dspy", "litellm"), _dspy),
    "beeai": (("beeai-framework", "openinference-instrumentation-beeai", "litellm"), _beeai),
}
