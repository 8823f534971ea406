"""The span tree: a small custom component (Streamlit components v2, plain HTML/CSS/JS).

Why a component: Streamlit has no tree widget, and neither ``st.dataframe`` nor an
Altair chart can indent rows, fold branches and draw each row's bar on a shared
time axis in one clickable list. This is ~150 lines of dependency-free JavaScript
with no build step; it renders inside the page (no iframe), takes its colours
from Streamlit's theme variables (dark and light both work), and folds branches in
the browser without a round trip. A click on a row sends the row's key back to
Python (a trigger value), which reruns and shows that step's detail.

Stored text reaches the DOM only through ``textContent``, never as HTML.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from dashboard.span_tree import KIND_ICONS, TreeRow

__all__ = ["span_tree"]

_CSS = """
:host { display: block; }
.tree { font: 14px/1.35 var(--st-font, "Source Sans Pro", sans-serif);
  color: var(--st-text-color, inherit); }
.toolbar { display: flex; gap: 6px; align-items: center; margin-bottom: 4px; flex-wrap: wrap; }
.toolbar button { font: inherit; font-size: 12px; padding: 2px 8px; cursor: pointer;
  color: inherit; background: transparent; border-radius: 6px;
  border: 1px solid var(--st-border-color, rgba(128,128,128,.4)); }
.toolbar .axis-note { margin-left: auto; font-size: 12px; opacity: .7; }
.rows { max-height: 70vh; overflow-y: auto; overflow-x: hidden;
  border: 1px solid var(--st-border-color, rgba(128,128,128,.3)); border-radius: 8px; }
.axis, .row { display: grid; grid-template-columns: minmax(0, 1fr) 34% 58px;
  align-items: center; column-gap: 8px; padding: 0 8px; }
.axis { position: sticky; top: 0; z-index: 1; font-size: 11px; opacity: .85;
  background: var(--st-background-color, Canvas); height: 22px;
  border-bottom: 1px solid var(--st-border-color, rgba(128,128,128,.3)); }
.ticks { display: flex; justify-content: space-between; }
.row { min-height: 30px; cursor: pointer; border-left: 3px solid transparent; }
.row:hover { background: rgba(128,128,128,.12); }
.row.selected { background: var(--st-secondary-background-color, rgba(128,128,128,.18));
  border-left-color: var(--st-primary-color, #ff4b4b); }
.row:focus-visible { outline: 2px solid var(--st-primary-color, #ff4b4b); outline-offset: -2px; }
.label { display: flex; align-items: center; gap: 5px; min-width: 0; white-space: nowrap; }
.twisty { width: 14px; flex: none; text-align: center; opacity: .75; }
.icon { flex: none; width: 20px; height: 20px; border-radius: 5px; display: inline-flex;
  align-items: center; justify-content: center; font-size: 12px; color: #fff; }
.num { flex: none; font-size: 12px; opacity: .65; }
.title { flex: none; font-weight: 600; max-width: 45%; overflow: hidden; text-overflow: ellipsis; }
.preview { min-width: 0; overflow: hidden; text-overflow: ellipsis; opacity: .75; }
.track { position: relative; height: 12px; background: rgba(128,128,128,.12); border-radius: 3px; }
.bar { position: absolute; top: 0; bottom: 0; border-radius: 3px; min-width: 2px; }
.dur { font-size: 12px; text-align: right; opacity: .85; white-space: nowrap; }
.k-llm .icon, .k-llm .bar { background: #8b5cf6; }
.k-tool .icon, .k-tool .bar { background: #0b8ec2; }
.k-response .icon, .k-response .bar { background: #16a34a; }
.k-terminate .icon, .k-terminate .bar { background: #d97706; }
.k-agent .icon, .k-agent .bar { background: #64748b; }
.k-step .icon, .k-step .bar { background: #64748b; }
.failed .icon, .failed .bar { background: #e5484d; }
.failed .preview { color: #e5484d; opacity: 1; }
.running .bar { opacity: .55; }
.empty { padding: 10px; opacity: .7; }
@media (max-width: 640px) {
  .axis, .row { grid-template-columns: minmax(0, 1fr) 22% 48px; }
  .preview { display: none; }
  .title { max-width: none; }
}
"""

_JS = """
export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  const storeKey = "agent-audit-tree:" + (data.run || "");
  let root = parentElement.querySelector(".tree");
  if (!root) {
    root = document.createElement("div");
    root.className = "tree";
    parentElement.appendChild(root);
  }
  let folded;
  try { folded = new Set(JSON.parse(sessionStorage.getItem(storeKey) || "[]")); }
  catch (e) { folded = new Set(); }
  const save = () => {
    try { sessionStorage.setItem(storeKey, JSON.stringify([...folded])); } catch (e) {}
  };
  const rows = data.rows || [];
  const FIRST_ROWS = 40;
  let renderCount = 0;
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const hiddenBy = (row, byKey) => {
    let parent = row.parent;
    while (parent) {
      if (folded.has(parent)) return true;
      parent = byKey[parent] ? byKey[parent].parent : null;
    }
    return false;
  };
  function render() {
    const scrollTop = root.querySelector(".rows") ? root.querySelector(".rows").scrollTop : 0;
    root.replaceChildren();
    const toolbar = el("div", "toolbar");
    const expand = el("button", "", "Expand all");
    expand.type = "button";
    expand.onclick = () => { folded.clear(); save(); render(); };
    const collapse = el("button", "", "Collapse all");
    collapse.type = "button";
    collapse.onclick = () => {
      rows.forEach((r) => { if (r.has_children) folded.add(r.key); });
      save(); render();
    };
    toolbar.append(expand, collapse, el("span", "axis-note", data.axis_note || ""));
    root.appendChild(toolbar);
    const list = el("div", "rows");
    list.setAttribute("role", "tree");
    const axis = el("div", "axis");
    const ticks = el("div", "ticks");
    (data.ticks || []).forEach((t) => ticks.appendChild(el("span", "", t)));
    axis.append(el("span", "", "step"), ticks, el("span", "dur", "took"));
    list.appendChild(axis);
    const byKey = {};
    rows.forEach((r) => { byKey[r.key] = r; });
    if (!rows.length) list.appendChild(el("div", "empty", data.empty || "No steps."));
    const addRow = (r) => {
      const classes = ["row", "k-" + r.kind];
      if (r.failed) classes.push("failed");
      if (r.running) classes.push("running");
      if (r.key === data.selected) classes.push("selected");
      const row = el("div", classes.join(" "));
      row.dataset.key = r.key;
      row.tabIndex = 0;
      row.setAttribute("role", "treeitem");
      row.setAttribute("aria-selected", r.key === data.selected ? "true" : "false");
      const label = el("div", "label");
      label.style.paddingLeft = (r.depth * 16) + "px";
      const twisty = el("span", "twisty", r.has_children ? (folded.has(r.key) ? "▸" : "▾") : "");
      if (r.has_children) {
        row.setAttribute("aria-expanded", folded.has(r.key) ? "false" : "true");
        twisty.onclick = (event) => {
          event.stopPropagation();
          if (folded.has(r.key)) folded.delete(r.key); else folded.add(r.key);
          save(); render();
        };
      }
      label.append(
        twisty,
        el("span", "icon", (data.icons || {})[r.kind] || "•"),
        el("span", "num", r.number === null ? "" : String(r.number)),
        el("span", "title", r.title),
        el("span", "preview", r.preview),
      );
      label.title = r.title + (r.preview ? " " + r.preview : "");
      const track = el("div", "track");
      const bar = el("span", "bar");
      bar.style.left = r.start_pct + "%";
      bar.style.width = r.width_pct + "%";
      track.appendChild(bar);
      track.title = r.duration;
      row.append(label, track, el("span", "dur", r.duration));
      const choose = () => {
        list.querySelectorAll(".row.selected").forEach((n) => n.classList.remove("selected"));
        row.classList.add("selected");
        setTriggerValue("select", r.key);
      };
      row.onclick = choose;
      row.onkeydown = (event) => {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); choose(); }
        const next = row.nextElementSibling, previous = row.previousElementSibling;
        if (event.key === "ArrowDown" && next) next.focus();
        if (event.key === "ArrowUp" && previous) previous.focus();
      };
      list.appendChild(row);
    };
    // The rows a person sees first (the list scrolls past ~25) are drawn at once, the
    // rest right after the browser has painted: a long run's tree shows sooner.
    const shown = rows.filter((r) => !hiddenBy(r, byKey));
    const chosenAt = shown.findIndex((r) => r.key === data.selected);
    // Enough rows for the selected one and for the list's scroll position to be kept.
    const first = Math.max(
      FIRST_ROWS, chosenAt + FIRST_ROWS / 2, Math.ceil(scrollTop / 30) + FIRST_ROWS);
    shown.slice(0, first).forEach(addRow);
    root.appendChild(list);
    list.scrollTop = scrollTop;
    const token = ++renderCount;
    if (shown.length > first) {
      list.dataset.pending = "true";
      requestAnimationFrame(() => setTimeout(() => {
        if (token !== renderCount) return;  // a newer render replaced this list
        shown.slice(first).forEach(addRow);
        delete list.dataset.pending;
      }, 0));
    }
  }
  render();
  if (data.reveal) {
    const chosen = root.querySelector(".row.selected");
    const list = root.querySelector(".rows");
    if (chosen && list) {
      const top = chosen.offsetTop - list.offsetTop;
      if (top < list.scrollTop || top > list.scrollTop + list.clientHeight - 30) {
        list.scrollTop = Math.max(top - 60, 0);
      }
    }
  }
}
"""

_span_tree = st.components.v2.component(
    "agent_audit.span_tree", css=_CSS, js=_JS, isolate_styles=True
)


def span_tree(
    rows: Sequence[TreeRow],
    *,
    run_id: str,
    selected: str | None,
    ticks: Sequence[str],
    axis_note: str = "",
    empty: str = "No steps match.",
    key: str,
    on_select: Callable[[str], None],
) -> None:
    """Draw the tree; ``on_select(row_key)`` runs (before the rerun) when a row is clicked."""
    data: dict[str, Any] = {
        "run": run_id,
        "rows": [row.to_json() for row in rows],
        "selected": selected,
        "ticks": list(ticks),
        "axis_note": axis_note,
        "icons": KIND_ICONS,
        "empty": empty,
        "reveal": True,
    }

    def chosen_row() -> None:
        # A callback runs before the script reruns, so the rerun already draws the
        # new selection (reading the trigger value afterwards would be one run late).
        result: Any = st.session_state.get(key)
        chosen = result.get("select") if result is not None else None
        if chosen:
            on_select(str(chosen))

    _span_tree(key=key, data=data, on_select_change=chosen_row)
