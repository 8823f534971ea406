"""The tool-calling loop of one agent run, traced step by step.

A run is an ``agent_run`` span. Each model call is a ``think`` step (model,
tokens, reasoning and content as thinking); each tool call a ``tool_call`` step
(recorded by the :class:`~agent.toolbox.Toolbox`); the answer a ``response``
step. ``max_steps`` bounds the model calls: when they are used up without an
answer, a ``terminate`` step ends the run ``max_steps``. A cancel request seen
by the instrumentation ends the run ``cancelled`` at the next step boundary; so
does a stop asked for by the service (its caller went away), which first records
a ``terminate`` step saying why, even when the model call under way then fails.
A model server that cannot answer fails the run with its error; so does a model
turn with neither text nor a tool call (a refusal, a content filter), after a failed
``terminate`` step saying which.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from agent.errors import ModelServerError, NoAnswer
from agent.llm import ChatModel, ModelTurn, ToolCallRequest
from agent.prompts import system_prompt
from agent.settings import AgentSettings
from agent.toolbox import Toolbox
from instrumentation import RunCancelled, RunHandle, agent_run
from instrumentation import attributes as attr
from instrumentation.attributes import RunStatus
from instrumentation.cancel import CancelFlag

__all__ = ["RunOutcome", "RunRequest", "StepSummary", "run_task"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """What the agent is asked to do, and how the run is labelled."""

    task: str
    model: str | None = None
    max_steps: int | None = None
    source: str | None = None
    triggered_by: str | None = None
    working_directory: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class StepSummary:
    """One step of a finished run, as the service reports it to its caller."""

    action_type: str
    tool_name: str | None = None
    tool_args: str | None = None
    result: str | None = None
    thinking: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str | None = None


@dataclass
class RunOutcome:
    """How a run ended."""

    run_id: str
    status: str
    final_answer: str | None = None
    error: str | None = None
    steps: list[StepSummary] = field(default_factory=list)


def run_task(
    request: RunRequest,
    *,
    settings: AgentSettings,
    model: ChatModel,
    toolbox: Toolbox,
    on_start: Callable[[str], None] | None = None,
    stop: CancelFlag | None = None,
) -> RunOutcome:
    """Run ``request`` to its end; ``on_start(run_id)`` is called as soon as the run exists.

    Once ``stop`` is set, the run ends ``cancelled`` at the next step boundary.
    Never raises: every ending, failures included, is in the returned outcome.
    """
    model_name = request.model or settings.llm_model
    max_steps = request.max_steps or settings.max_steps
    steps: list[StepSummary] = []
    run: RunHandle | None = None
    error: str | None = None
    try:
        with agent_run(
            request.task,
            agent_name=settings.agent_name,
            source=request.source,
            triggered_by=request.triggered_by,
            model_requested=model_name,
            backend=settings.llm_backend,
            working_directory=request.working_directory,
            metadata=request.metadata,
            provider=settings.llm_provider,
        ) as run:
            if on_start is not None:
                on_start(run.id)
            answer = _converse(
                run,
                request.task,
                model_name,
                max_steps,
                _Turns(model, toolbox, settings, steps, stop or CancelFlag()),
            )
            if answer is None:
                error = steps[-1].result  # the terminate step's reason
                run.finish(status=RunStatus.MAX_STEPS)
            else:
                run.finish(final_answer=answer)
    except RunCancelled as exc:
        error = str(exc)
    except (ModelServerError, NoAnswer) as exc:
        logger.warning("run failed: %s", exc)
        error = str(exc)
    except Exception as exc:  # the run's boundary: record, report, never kill the worker
        logger.exception("run failed unexpectedly")
        error = f"{type(exc).__name__}: {exc}"
    if run is None:  # agent_run itself never starts a run without a handle; defensive
        return RunOutcome(run_id="", status=RunStatus.FAILED, error=error or "run did not start")
    final = next((s.result for s in reversed(steps) if s.action_type == "response"), None)
    return RunOutcome(
        run_id=run.id, status=run.status, final_answer=final, error=error, steps=steps
    )


@dataclass(frozen=True)
class _Turns:
    """What every turn of one run needs: the model, the tools, the record, the stop flag."""

    model: ChatModel
    toolbox: Toolbox
    settings: AgentSettings
    steps: list[StepSummary]
    stop: CancelFlag

    def check_stop(self, run: RunHandle) -> None:
        """At a step boundary: end the run as cancelled, saying why, once a stop was asked."""
        stop = self.stop
        if not stop.requested:
            return
        reason = f"cancelled: {stop.reason or 'a stop was requested'}"
        with run.step("terminate") as step:
            step.set_result(reason)
        self.steps.append(StepSummary("terminate", result=reason))
        raise RunCancelled(run.id, requested_by=stop.requested_by, reason=stop.reason)


def _converse(
    run: RunHandle, task: str, model_name: str, max_steps: int, turns: _Turns
) -> str | None:
    """The model/tool exchange; the final answer, or None when ``max_steps`` ran out."""
    toolbox, settings, steps = turns.toolbox, turns.settings, turns.steps
    tools = toolbox.definitions()
    prompt = system_prompt(
        settings.system_prompt, has_server_tools=toolbox.server_tools is not None
    )
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": prompt},
        {"role": "user", "content": task},
    ]
    for _ in range(max_steps):
        turns.check_stop(run)
        try:
            turn = _think(run, turns.model, messages, tools, model_name, steps)
        except ModelServerError:
            # Stopped while the model was thinking (its caller left): the call that then
            # failed or timed out was waited for by nobody, so the run ends cancelled.
            turns.check_stop(run)
            raise
        messages.append(turn.assistant_message())
        if not turn.tool_calls:
            turns.check_stop(run)  # the answer stays in the think step's record
            if not turn.content.strip():
                _no_answer(run, turn, steps)
            with run.step("response") as step:
                step.set_result(turn.content)
            steps.append(StepSummary("response", result=turn.content))
            return turn.content
        limit = settings.max_tool_calls_per_turn
        for call in turn.tool_calls[:limit]:
            turns.check_stop(run)
            result = toolbox.call(run, call.name, call.arguments, call_id=call.id)
            steps.append(
                StepSummary(
                    "tool_call",
                    tool_name=call.name,
                    tool_args=call.arguments,
                    result=result,
                    error=result if result.startswith("error: ") else None,
                )
            )
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        skipped = turn.tool_calls[limit:]
        if skipped:  # a model asking for thousands of calls at once gets a bounded turn
            reason = _over_limit_reason(len(turn.tool_calls), limit)
            _skip_tool_calls(run, skipped, reason, toolbox)
            steps.append(
                StepSummary("tool_call", tool_name=SKIPPED_CALLS_NAME, error=f"error: {reason}")
            )
            messages += [
                {"role": "tool", "tool_call_id": call.id, "content": f"error: {reason}"}
                for call in skipped
            ]
    turns.check_stop(run)
    reason = f"stopped after {max_steps} model calls without a final answer (max_steps)"
    with run.step("terminate") as step:
        step.set_result(reason)
    steps.append(StepSummary("terminate", result=reason))
    return None


def _no_answer(run: RunHandle, turn: ModelTurn, steps: list[StepSummary]) -> NoReturn:
    """End the run failed: a turn without text or tool calls answers nothing.

    A refusal or a content filter is not a completed investigation, and an empty
    "answer" would read as one to the caller.
    """
    if turn.refusal:
        reason = f"the model refused to answer: {turn.refusal}"
    else:
        finish = turn.finish_reason or "none given"
        reason = f"the model answered with neither text nor a tool call (finish reason: {finish})"
    with run.step("terminate") as step:
        step.set_error(reason)
        step.set_result(reason)
    steps.append(StepSummary("terminate", error=reason))
    raise NoAnswer(reason)


SKIPPED_CALLS_NAME = "(tool calls over the per-turn limit)"


def _over_limit_reason(asked: int, limit: int) -> str:
    return f"not run: {asked} tool calls in one answer, at most {limit} are run per answer"


def _skip_tool_calls(
    run: RunHandle, skipped: Sequence[ToolCallRequest], reason: str, toolbox: Toolbox
) -> None:
    """One refused step holding every call not run (names, ids, arguments as sent)."""
    calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in skipped]
    toolbox.record_refusal(run, SKIPPED_CALLS_NAME, calls, None, reason)


def _think(
    run: RunHandle,
    model: ChatModel,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    model_name: str,
    steps: list[StepSummary],
) -> ModelTurn:
    with run.step("think", model=model_name) as step:
        try:
            turn = model.complete(messages, tools, model_name)
        except ModelServerError as exc:
            steps.append(StepSummary("think", model=model_name, error=str(exc)))
            raise
        if turn.model:
            step.set_model(turn.model)
            run.set_model_used(turn.model)
        step.set_tokens(input_tokens=turn.input_tokens, output_tokens=turn.output_tokens)
        if turn.thinking:
            step.set_thinking(turn.thinking)
        if turn.finish_reason:
            step.set_attribute(attr.GEN_AI_RESPONSE_FINISH_REASONS, [turn.finish_reason])
    steps.append(
        StepSummary(
            "think",
            thinking=turn.thinking or None,
            model=turn.model or model_name,
            input_tokens=turn.input_tokens,
            output_tokens=turn.output_tokens,
        )
    )
    return turn
