// The edge shapes of edges_more_scenario.py for a Node.js framework: the edge tools (tick,
// lookup, open_vault that throws, wait_forever that waits until aborted) and the loop that
// runs every shape, the cancelled one last, aborted through its call's abortSignal once
// wait_forever runs. What the tools say comes from HOSTILE_RESULT_JSON and RAISED.
import { z } from "zod";

// `define(name, spec)` makes a tool in the framework's own form; `signalOf(options)` takes
// the abort signal out of what the framework hands a tool's execute as its second argument.
export function edgeTools(define, signalOf) {
  let started = null; // resolves when wait_forever starts
  const waitStarted = new Promise((resolve) => { started = resolve; });
  const tools = {
    tick: define("tick", {
      description: "Count one tick.",
      inputSchema: z.object({ n: z.number() }),
      execute: async ({ n }) => `tick ${n} counted`,
    }),
    lookup: define("lookup", {
      description: "Look a query up.",
      inputSchema: z.object({ query: z.string() }),
      execute: async () => JSON.parse(process.env.HOSTILE_RESULT_JSON),
    }),
    open_vault: define("open_vault", {
      description: "Open the vault with a code.",
      inputSchema: z.object({ code: z.string() }),
      execute: async ({ code }) => { throw new Error(`${process.env.RAISED} (code ${code})`); },
    }),
    wait_forever: define("wait_forever", {
      description: "Wait for a slow service.",
      inputSchema: z.object({ seconds: z.number() }),
      execute: async (_input, options) => {
        started();
        const signal = signalOf(options);
        await new Promise((_resolve, reject) => {
          signal.addEventListener("abort", () => reject(signal.reason));
        });
        return "never";
      },
    }),
  };
  return { tools, waitStarted };
}

// `run(task, options)` makes one call and says what it returned; every shape but
// "cancelled" runs in turn, then "cancelled" is aborted while wait_forever runs.
export async function runEdgeShapes(tasks, run, waitStarted) {
  const out = {};
  for (const [shape, task] of Object.entries(tasks)) {
    if (shape === "cancelled") continue;
    out[shape] = await run(task);
  }
  const abort = new AbortController();
  const cancelled = run(tasks.cancelled, { abortSignal: abort.signal });
  await waitStarted;
  abort.abort();
  out.cancelled = { ...(await cancelled), cancelled: true };
  return out;
}
