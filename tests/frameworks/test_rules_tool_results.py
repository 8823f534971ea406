"""Tool results of every shape (None, a dict, a list, non-ASCII) as the frameworks record
them on their tool spans (captured with the real frameworks; see SPANS.md), read the way
a person reading the framework's logs would write them."""

from __future__ import annotations

import json

from collector.rules import google_adk
from tests.frameworks.test_rules import _span

ADK = "gcp.vertex.agent"


def _adk_tool(response: str) -> dict[str, object]:
    tool = _span(
        "execute_tool nothing",
        ADK,
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "nothing",
            "gcp.vertex.agent.tool_call_args": '{"x": 1}',
            "gcp.vertex.agent.tool_response": response,
        },
    )
    return google_adk.step_fields(tool, "tool_call")


def test_an_adk_tool_returning_none_has_the_result_null() -> None:
    # ADK 1.10 wraps a result that is no dict: ``return None`` is ``{"result": null}``.
    assert _adk_tool('{"result": null}') == {
        "tool_name": "nothing",
        "tool_args": {"x": 1},
        "tool_result": "null",
    }


def test_adk_tool_results_that_are_lists_dicts_or_text_keep_their_shape() -> None:
    as_list = json.dumps({"result": ["☀", 21]}, ensure_ascii=False)
    assert _adk_tool(as_list)["tool_result"] == '["☀", 21]'
    as_dict = json.dumps({"ville": "Zürich", "temps": 21}, ensure_ascii=False)
    assert json.loads(str(_adk_tool(as_dict)["tool_result"])) == {"ville": "Zürich", "temps": 21}
    assert _adk_tool('{"result": "sunny in Zürich"}')["tool_result"] == "sunny in Zürich"
