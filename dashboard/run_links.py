"""The phone-width list of runs as one small custom component (components v2, plain JS).

The list is sent with every runs page (a CSS media query hides it on wide screens),
so it must cost little where it is not seen. Drawn as 50 ``st.page_link`` and 50
``st.caption`` elements it was 100 of the page's 116 elements, a few hundred ms
of the browser's time on every load of the runs page. Here it is one element whose
JavaScript builds plain links; stored text reaches the DOM only through
``textContent``, never as HTML. A click opens the run in the same session (a
trigger value, then ``st.switch_page``), as the page links did; the ``href`` still
works for opening a run in a new tab.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypedDict

import streamlit as st

__all__ = ["RunLink", "run_links"]


class RunLink(TypedDict):
    """One run of the list: its id, the link's text, its hover text, the facts line."""

    id: str
    label: str
    hover: str
    facts: str


_CSS = """
:host { display: block; }
.runs-list { font: 15px/1.4 var(--st-font, "Source Sans Pro", sans-serif);
  color: var(--st-text-color, inherit); }
.run-row { padding: 6px 0; border-bottom: 1px solid var(--st-border-color, rgba(128,128,128,.25)); }
.run-row a { color: inherit; text-decoration: none; display: block; overflow-wrap: anywhere; }
.run-row a:hover { text-decoration: underline; }
.run-row a:focus-visible { outline: 2px solid var(--st-primary-color, #ff4b4b); }
.facts { font-size: 13px; opacity: .75; overflow-wrap: anywhere; }
"""

_JS = """
export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  let root = parentElement.querySelector(".runs-list");
  if (!root) {
    root = document.createElement("div");
    root.className = "runs-list";
    parentElement.appendChild(root);
  }
  root.replaceChildren();
  (data.runs || []).forEach((run) => {
    const row = document.createElement("div");
    row.className = "run-row";
    const link = document.createElement("a");
    link.href = "run?run=" + encodeURIComponent(run.id);
    link.textContent = run.label;
    link.title = run.hover;
    link.onclick = (event) => {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
      event.preventDefault();
      setTriggerValue("open", run.id);
    };
    const facts = document.createElement("div");
    facts.className = "facts";
    facts.textContent = run.facts;
    row.append(link, facts);
    root.appendChild(row);
  });
}
"""

_run_links = st.components.v2.component(
    "agent_audit.run_links", css=_CSS, js=_JS, isolate_styles=True
)


def run_links(runs: Sequence[RunLink], *, key: str, on_open: Callable[[str], None]) -> None:
    """Draw the list; ``on_open(run_id)`` runs (before the rerun) when a link is clicked."""

    def opened() -> None:
        result: Any = st.session_state.get(key)
        chosen = result.get("open") if result is not None else None
        if chosen:
            on_open(str(chosen))

    _run_links(key=key, data={"runs": list(runs)}, on_open_change=opened)
