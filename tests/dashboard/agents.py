"""Agent runs sent through the real instrumentation, for the dashboard's tests.

``send_sample_runs`` records finished runs of every kind; ``LiveAgent`` keeps a
run open in a thread and takes one step each time the test calls ``advance()``,
stopping when the collector reports a cancel request (as a real agent would).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from instrumentation import RunCancelled, agent_run
from instrumentation import attributes as A

HOSTILE_RESULT = (
    "<img src=x onerror=\"document.title='pwned'\"> <script>alert(1)</script> "
    "**bold** [link](http://example.invalid) :red[red] $x^2$ \x1b[31mansi\x1b[0m"
)
PROMPT_MESSAGES = [
    {"role": "system", "parts": [{"type": "text", "content": "You are an ops agent."}]},
    {"role": "user", "parts": [{"type": "text", "content": "Analyze container crash"}]},
]
COMPLETION_MESSAGES = [
    {
        "role": "assistant",
        "parts": [
            {
                "type": "tool_call",
                "id": "call_1",
                "name": "search_skills",
                "arguments": {"q": "docker container"},
            }
        ],
        "finish_reason": "tool_call",
    }
]
LONG_RESULT = "\n".join(f"log line {i:04d}: container homepage restarted" for i in range(300))


@dataclass(frozen=True)
class SampleRuns:
    """Ids of the finished runs ``send_sample_runs`` recorded."""

    completed: str
    failed: str
    max_steps: str
    cancelled: str
    hostile: str

    def all(self) -> list[str]:
        return [self.completed, self.failed, self.max_steps, self.cancelled, self.hostile]


def _completed() -> str:
    with agent_run(
        "Analyze container crash",
        agent_name="ops",
        source="n8n",
        triggered_by="webhook",
        model_requested="qwen2.5-coder",
        backend="3090",
        provider="ollama",
        metadata={"ticket": "OPS-12"},
    ) as run:
        with run.step("think", model="qwen2.5-coder") as step:
            step.set_thinking("Look for matching skills first.")
            step.set_tokens(input_tokens=800, output_tokens=60)
            # The conversation, as OpenTelemetry GenAI instrumentations record it.
            step.set_attribute("gen_ai.input.messages", json.dumps(PROMPT_MESSAGES))
            step.set_attribute("gen_ai.output.messages", json.dumps(COMPLETION_MESSAGES))
        with run.step(
            "tool_call", tool_name="search_skills", tool_args={"q": "docker container"}
        ) as step:
            step.set_result("Found 3 matching skills")
        with run.step(
            "tool_call",
            tool_name="run_on_server",
            tool_args={"cmd": "docker logs homepage --tail 50"},
        ) as step:
            # What ssh_tools records on each command it runs.
            step.set_attribute(A.SSH_HOST, "nas.lan")
            step.set_attribute(A.SSH_PORT, 22)
            step.set_attribute(A.SSH_USER, "agent")
            step.set_attribute(
                A.SSH_ARGV, json.dumps(["docker", "logs", "homepage", "--tail", "50"])
            )
            step.set_attribute(A.SSH_DECISION, "allowed")
            step.set_attribute(A.SSH_REASON, "allowed by policy")
            step.set_attribute(A.SSH_EXIT_CODE, 0)
            step.set_result(LONG_RESULT)
        run.set_model_used("qwen2.5-coder")
        run.finish(final_answer="Container crashed due to OOM. Recommend a 2 GB limit.")
    return run.id


def _failed() -> str:
    with agent_run(
        "Restart homepage", agent_name="ops", source="api", model_requested="llama3"
    ) as run:
        with run.step("tool_call", tool_name="docker_ps", tool_args={"all": True}) as step:
            step.set_result("homepage  Exited (137)")
        try:
            with run.step(
                "tool_call", tool_name="docker_restart", tool_args={"container": "homepage"}
            ):
                raise RuntimeError("permission denied: docker.sock")
        except RuntimeError as exc:
            run.finish(status="failed", error=exc)
    return run.id


def _max_steps() -> str:
    with agent_run(
        "Check disk space", agent_name="ops", source="n8n", model_requested="llama3"
    ) as run:
        for index in range(3):
            with run.step("tool_call", tool_name="df", tool_args={"path": f"/mnt/{index}"}) as step:
                step.set_result(f"/mnt/{index} 91% used")
        run.finish(status="max_steps")
    return run.id


def _cancelled() -> str:
    with agent_run("Prune images", agent_name="ops", source="cli") as run:
        with run.step("tool_call", tool_name="docker_images", tool_args={}) as step:
            step.set_result("12 images")
        run.finish(status="cancelled")
    return run.id


def _hostile() -> str:
    with agent_run(f"Render test {HOSTILE_RESULT}", agent_name="ops", source="cli") as run:
        with run.step(
            "tool_call", tool_name="cat_html", tool_args={"html": HOSTILE_RESULT}
        ) as step:
            step.set_result(HOSTILE_RESULT)
        run.finish(final_answer=HOSTILE_RESULT)
    return run.id


def send_sample_runs() -> SampleRuns:
    """Record one finished run of each kind, oldest first; returns their ids."""
    return SampleRuns(
        completed=_completed(),
        failed=_failed(),
        max_steps=_max_steps(),
        cancelled=_cancelled(),
        hostile=_hostile(),
    )


class LiveAgent:
    """A running agent: one tool step per ``advance()``, until cancelled or ``finish()``."""

    def __init__(self, task: str = "Watch the backup job") -> None:
        self.task = task
        self.run_id: str | None = None
        self.outcome: str | None = None  # "completed" or "cancelled" once the run ended
        self._started = threading.Event()
        self._advance = threading.Semaphore(0)
        self._finish = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="live-agent", daemon=True)

    def start(self) -> LiveAgent:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the live agent did not start")
        return self

    def advance(self) -> None:
        """Take one more step."""
        self._advance.release()

    def finish(self, timeout_s: float = 10.0) -> None:
        """End the run as completed (if it is still running) and wait for the thread."""
        self._finish.set()
        self._advance.release()
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        try:
            with agent_run(
                self.task, agent_name="ops", source="cron", model_requested="qwen2.5-coder"
            ) as run:
                self.run_id = run.id
                self._started.set()
                number = 0
                while not self._finish.is_set():
                    # A real agent checks for a cancel between steps (run.step() raises too).
                    if not self._advance.acquire(timeout=0.05):
                        if run.cancel_requested:
                            raise RunCancelled(run.id)
                        continue
                    if self._finish.is_set():
                        break
                    number += 1
                    with run.step(
                        "tool_call", tool_name=f"check_backup_{number}", tool_args={"n": number}
                    ) as step:
                        step.set_result(f"backup part {number} ok")
                run.finish(final_answer="backup verified")
            self.outcome = "completed"
        except RunCancelled:
            self.outcome = "cancelled"
        finally:
            self._started.set()


def send_priced_run(task: str = "Summarize invoices") -> str:
    """One run on a model with a public price (gpt-4o-mini at openai), for cost tests."""
    with agent_run(
        task, agent_name="billing", source="api", model_requested="gpt-4o-mini", provider="openai"
    ) as run:
        with run.step("think", model="gpt-4o-mini") as step:
            step.set_tokens(input_tokens=100_000, output_tokens=20_000)
        run.set_model_used("gpt-4o-mini")
        run.finish(final_answer="3 invoices are overdue.")
    return run.id


def send_long_run(steps: int = 30, failing_step: int = 12) -> str:
    """A completed run of ``steps`` tool calls; step ``failing_step`` fails, the agent goes on."""
    with agent_run("Check every volume", agent_name="ops", source="cli") as run:
        for number in range(1, steps + 1):
            try:
                with run.step(
                    "tool_call", tool_name="df", tool_args={"volume": f"vol-{number:03d}"}
                ) as step:
                    if number == failing_step:
                        raise RuntimeError(f"volume vol-{number:03d} is not mounted")
                    step.set_result(f"vol-{number:03d} is {number}% used")
            except RuntimeError:
                continue  # the agent goes on with the next volume
        run.finish(final_answer=f"Checked {steps} volumes.")
    return run.id
