// What an AI SDK driver reports of a call's tools: each tool result or tool error of every
// step, with its name, input, whether it failed and what it returned or threw.
export function toolCalls(steps) {
  return steps.flatMap((s) =>
    s.content
      .filter((c) => c.type === "tool-result" || c.type === "tool-error")
      .map((c) => ({ name: c.toolName, args: c.input, error: c.type === "tool-error",
                     result: c.type === "tool-error" ? String(c.error) : c.output })),
  );
}
