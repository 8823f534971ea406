// Evaluates n8n parameter expressions ("={{ js }}" or "=text {{ js }} text") as JavaScript,
// the way n8n renders them for plain JS (no n8n extension methods).
// stdin: {"items": [{"value": ..., "context": {json, workflow, execution, nodes}}]}
// stdout: the evaluated values, as a JSON list.
"use strict";
const fs = require("fs");

function evaluate(value, ctx) {
  if (typeof value !== "string" || !value.startsWith("=")) return value;
  const text = value.slice(1);
  const $ = (name) => {
    if (!(name in ctx.nodes)) throw new Error(`no output of node ${name}`);
    return { item: { json: ctx.nodes[name] }, first: () => ({ json: ctx.nodes[name] }) };
  };
  const run = (code) =>
    new Function("$json", "$workflow", "$execution", "$", `"use strict"; return (${code});`)(
      ctx.json, ctx.workflow, ctx.execution, $);
  const parts = text.split(/(\{\{[\s\S]*?\}\})/);
  if (parts.length === 3 && parts[0] === "" && parts[2] === "") return run(parts[1].slice(2, -2));
  return parts
    .map((part) => (part.startsWith("{{") && part.endsWith("}}") ? String(run(part.slice(2, -2))) : part))
    .join("");
}

const input = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(input.items.map(({ value, context }) => evaluate(value, context))));
