"""The detail pane of the run explorer: one step in full.

The command run on a server (with its host, decision and exit code), inputs,
outputs, arguments, the error with its traceback, tokens, model,
timings; for an LLM step the conversation as a chat; the raw span attributes.
Stored values are shown with ``st.code``/``st.json`` (never as Markdown or HTML).
Long texts sit in scroll boxes; ``st.code`` has a copy button, and each text has
a download button.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from dashboard.client import ApiError, AuditClient, NotFound
from dashboard.formatting import (
    Folded,
    escape_markdown,
    fold_text,
    format_duration_ms,
    format_time,
    one_line,
    pretty_json,
    visible_json,
    visible_text,
)
from dashboard.span_tree import KIND_ICONS, step_kind
from dashboard.transcript import Message, Transcript, looks_like_json, read_transcript
from dashboard.views.server_command import show_command

__all__ = [
    "INLINE_MAX_CHARS",
    "INLINE_MAX_LINES",
    "lines_note",
    "load_span",
    "step_detail_pane",
    "show_long_text",
]

SCROLL_LINES = 18  # texts longer than this get a fixed-height scroll box
SCROLL_HEIGHT_PX = 360
# What one code box shows of a text; past it, the start and a download of the whole.
INLINE_MAX_CHARS = 20_000
INLINE_MAX_LINES = 500


def lines_note(shown: Folded) -> str:
    """`` (1,234 lines)`` for a folded text of several lines; nothing for one line."""
    return f" ({shown.total_lines:,} lines)" if shown.total_lines > 1 else ""


KIND_LABELS = {
    "llm": "LLM call",
    "tool": "Tool call",
    "response": "Response",
    "terminate": "Terminate",
    "step": "Step",
}


# A stored span as ``GET /spans/{trace_id}/{span_id}`` returns it.
SpanRecord = dict[str, Any]


@st.cache_data(ttl=10, show_spinner=False, max_entries=256)
def load_span(_api: AuditClient, api_url: str, trace_id: str, span_id: str) -> SpanRecord | str:
    """The stored span of a step (attributes, events, resource), or why it is unavailable."""
    try:
        return _api.span(trace_id, span_id)
    except NotFound:
        return "the span is not stored (it may have been removed by retention)"
    except ApiError as exc:
        return f"the collector did not return the span ({exc.status_code}): {exc.detail}"


def show_long_text(
    text: object, *, key: str, label: str, language: str | None = None, download: bool = True
) -> None:
    """A text in a code box (a scroll box when long), highlighted when it is JSON."""
    value = visible_text(text)
    if language is None and looks_like_json(value):
        value, language = pretty_json(value), "json"
    long = value.count("\n") + 1 > SCROLL_LINES or len(value) > 4000
    # The browser lays out (and highlights) every line of a code box: a page stays quick
    # with the start of a megabyte text; the download holds all of it.
    shown = fold_text(value, max_chars=INLINE_MAX_CHARS, max_lines=INLINE_MAX_LINES)
    st.code(
        shown.preview + ("\n…" if shown.is_folded else ""),
        language=language,
        wrap_lines=True,
        height=SCROLL_HEIGHT_PX if long else "content",
    )
    if shown.is_folded:
        st.caption(
            f"The first {len(shown.preview):,} of {shown.total_chars:,} characters"
            f"{lines_note(shown)} are shown"
            + ("; the download below holds all of it." if download else ".")
        )
    if download and long:
        st.download_button(
            f"Download {label} ({len(value):,} characters)",
            value.encode("utf-8"),
            file_name=f"{key}.{'json' if language == 'json' else 'txt'}",
            mime="application/json" if language == "json" else "text/plain",
            on_click="ignore",
            icon=":material/download:",
            key=f"dl-{key}",
        )


def _facts(step: dict[str, Any], cost: str | None) -> list[tuple[str, str]]:
    facts = [("Started", format_time(step.get("started_at")))]
    duration = step.get("duration_ms")
    facts.append(("Took", format_duration_ms(duration) if duration is not None else "running"))
    if step.get("model"):
        facts.append(("Model", one_line(step["model"], 60)))
    if step.get("input_tokens") is not None or step.get("output_tokens") is not None:
        tokens = f"{step.get('input_tokens') or 0:,} / {step.get('output_tokens') or 0:,}"
        facts.append(("Tokens in / out", tokens))
    if cost:
        facts.append(("Cost", cost))
    if step.get("finish_reasons"):
        facts.append(("Finish", one_line(step["finish_reasons"], 40)))
    return facts


def _traceback(span: SpanRecord | str | None) -> str | None:
    if not isinstance(span, dict):
        return None
    for event in span.get("events") or []:
        if isinstance(event, dict) and event.get("name") == "exception":
            attrs = event.get("attributes") or {}
            trace = attrs.get("exception.stacktrace")
            if trace:
                return str(trace)
    return None


def _io(step: dict[str, Any], key: str) -> None:
    shown = False
    if step.get("tool_name"):
        st.markdown(f"**Tool** {escape_markdown(one_line(step['tool_name'], 120))}")
    args = step.get("tool_args")
    if args not in (None, "", {}, []):
        st.markdown("**Arguments**")
        show_long_text(pretty_json(args), key=f"{key}-args", label="arguments", language="json")
        shown = True
    result = step.get("tool_result")
    if result not in (None, ""):
        st.markdown("**Output**" if step_kind(step) != "tool" else "**Result**")
        show_long_text(result, key=f"{key}-result", label="result")
        shown = True
    if step.get("thinking"):
        st.markdown("**Thinking**")
        show_long_text(step["thinking"], key=f"{key}-thinking", label="thinking")
        shown = True
    if not shown:
        st.caption("No inputs or outputs were recorded for this step.")


_AVATARS = {
    "system": ":material/settings:",
    "user": ":material/person:",
    "assistant": ":material/smart_toy:",
    "tool": ":material/build:",
}


def _message(message: Message, key: str) -> None:
    role = message.role if message.role in _AVATARS else "assistant"
    with st.chat_message(role if role in ("user", "assistant") else "ai", avatar=_AVATARS[role]):
        label = message.role + (" · completion" if message.is_output else "")
        if message.tool_call_id:
            label += f" · answer to {message.tool_call_id}"
        st.caption(escape_markdown(label))
        if message.text:
            show_long_text(message.text, key=key, label=f"{message.role} message")
        for number, call in enumerate(message.tool_calls):
            st.caption(escape_markdown(f"asks for tool {one_line(call.name, 80)}"))
            arguments = call.arguments or "{}"
            show_long_text(arguments, key=f"{key}-call{number}", label="arguments", language="json")


def _transcript(transcript: Transcript, key: str) -> None:
    st.caption(
        escape_markdown(
            f"{len(transcript.messages)} messages, from the span's {transcript.source} attributes"
        )
    )
    for index, message in enumerate(transcript.messages):
        _message(message, f"{key}-msg{index}")
    as_json = json.dumps(
        [
            {
                "role": m.role,
                "text": m.text,
                "tool_calls": [
                    {"name": c.name, "arguments": c.arguments, "id": c.call_id}
                    for c in m.tool_calls
                ],
                "tool_call_id": m.tool_call_id,
                "completion": m.is_output,
            }
            for m in transcript.messages
        ],
        ensure_ascii=False,
        indent=2,
    )
    st.download_button(
        "Download transcript (JSON)",
        as_json.encode("utf-8"),
        file_name=f"{key}-transcript.json",
        mime="application/json",
        on_click="ignore",
        icon=":material/download:",
        key=f"dl-{key}-transcript",
    )


def _raw(span: SpanRecord | str | None, key: str) -> None:
    if not isinstance(span, dict):
        st.caption(escape_markdown(f"Raw attributes unavailable: {span or 'no span id'}"))
        return
    st.caption(
        escape_markdown(
            f"span {one_line(span.get('name'), 80)} · service {span.get('service_name') or '–'}"
            f" · scope {span.get('scope_name') or '–'}"
        )
    )
    # Shown by code, like every other stored text: a bidi override in a value would
    # reorder what follows it, an escape sequence or NUL would hide text.
    st.json(visible_json(span.get("attributes") or {}), expanded=2)
    if span.get("events"):
        st.markdown("**Events**")
        st.json(visible_json(span.get("events") or []), expanded=1)
    with st.expander("Resource"):
        st.json(visible_json(span.get("resource") or {}), expanded=True)
    st.download_button(
        "Download span (JSON)",
        json.dumps(span, ensure_ascii=False, indent=2, default=str).encode("utf-8"),
        file_name=f"{key}-span.json",
        mime="application/json",
        on_click="ignore",
        icon=":material/download:",
        key=f"dl-{key}-span",
    )


def step_detail_pane(
    api: AuditClient, step: dict[str, Any], *, link: str | None = None, cost: str | None = None
) -> None:
    """Everything about ``step``: facts, error and traceback, I/O, transcript, attributes."""
    kind = step_kind(step)
    key = f"detail-{step.get('id')}"
    name = step.get("tool_name") or step.get("model") or step.get("action_type") or "step"
    st.markdown(
        f"##### {KIND_ICONS.get(kind, '•')} Step {step.get('step_number', '?')} · "
        f"{KIND_LABELS.get(kind, 'Step')} · {escape_markdown(one_line(name, 80))}"
    )
    status = str(step.get("status") or "")
    if status == "error":
        st.badge("failed", color="red", icon=":material/error:")
    elif status == "running":
        st.badge("running", color="blue")
    else:
        st.badge("ok", color="green")
    columns = st.columns(2)
    for index, (label, value) in enumerate(_facts(step, cost)):
        columns[index % 2].markdown(f"**{label}** · {escape_markdown(value)}")
    if link:
        # As code: copied, it is the link itself (Markdown escaping would add characters).
        st.caption("Link to this step:")
        st.code(link, language=None, wrap_lines=True)
    span: SpanRecord | str | None = None
    if step.get("trace_id") and step.get("span_id"):
        span = load_span(api, api.base_url, str(step["trace_id"]), str(step["span_id"]))
    show_command(step)
    if step.get("error") or status == "error":
        st.error("This step failed:", icon=":material/error:")
        error = step.get("error") or "no error message was recorded"
        show_long_text(error, key=f"{key}-error", label="error", language=None)
        trace = _traceback(span)
        if trace:
            with st.expander("Traceback", expanded=True):
                show_long_text(trace, key=f"{key}-traceback", label="traceback", language="python")
    transcript = (
        read_transcript(span.get("attributes"), span) if isinstance(span, dict) else Transcript()
    )
    names = ["Input & output", "Transcript", "Attributes"]
    if kind == "llm" and not transcript.is_empty:
        names = ["Transcript", "Input & output", "Attributes"]
    tabs = dict(zip(names, st.tabs(names), strict=True))
    with tabs["Input & output"]:
        _io(step, key)
    with tabs["Transcript"]:
        if transcript.is_empty:
            st.caption(
                "No messages were recorded on this step's span (many instrumentations "
                "leave them out unless told to record content). Messages in the GenAI "
                "attributes or events, OpenInference's llm.*_messages, or the attributes of "
                "Google ADK, the AI SDK, Langfuse, MLflow or LiteLLM show here as a chat."
            )
        else:
            _transcript(transcript, key)
    with tabs["Attributes"]:
        _raw(span, key)
