// The edge shapes on Mastra (edges_more_scenario.py): an Agent with the edge tools (tick,
// lookup, open_vault that throws, wait_forever that waits until aborted), traced by Mastra's
// observability with its OpenTelemetry exporter (OTLP/HTTP protobuf to
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). Driven by capture_edges_node.py, which serves the
// model (SCRIPTED_BASE_URL) and receives the spans; prints what each call returned as JSON.
import { Mastra } from "@mastra/core/mastra";
import { Agent } from "@mastra/core/agent";
import { createTool } from "@mastra/core/tools";
import { Observability } from "@mastra/observability";
import { OtelExporter } from "@mastra/otel-exporter";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { z } from "zod";

const model = createOpenAICompatible({
  name: "scripted",
  baseURL: process.env.SCRIPTED_BASE_URL,
  apiKey: "none",
  includeUsage: true,
})("scripted-edges");

let started = null; // resolves when wait_forever starts
const waitStarted = new Promise((resolve) => { started = resolve; });
const tools = {
  tick: createTool({
    id: "tick",
    description: "Count one tick.",
    inputSchema: z.object({ n: z.number() }),
    execute: async ({ n }) => `tick ${n} counted`,
  }),
  lookup: createTool({
    id: "lookup",
    description: "Look a query up.",
    inputSchema: z.object({ query: z.string() }),
    execute: async () => JSON.parse(process.env.HOSTILE_RESULT_JSON),
  }),
  open_vault: createTool({
    id: "open_vault",
    description: "Open the vault with a code.",
    inputSchema: z.object({ code: z.string() }),
    execute: async ({ code }) => { throw new Error(`${process.env.RAISED} (code ${code})`); },
  }),
  wait_forever: createTool({
    id: "wait_forever",
    description: "Wait for a slow service.",
    inputSchema: z.object({ seconds: z.number() }),
    execute: async (_input, context) => {
      started();
      const signal = context?.abortSignal;
      await new Promise((_resolve, reject) => {
        signal?.addEventListener("abort", () => reject(signal.reason));
      });
      return "never";
    },
  }),
};

const exporter = new OtelExporter({
  provider: {
    custom: { endpoint: process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, protocol: "http/protobuf" },
  },
});
const mastra = new Mastra({
  agents: {
    edgeAgent: new Agent({
      id: "edge-agent",
      name: "edge_agent",
      instructions: "Answer with the tools.",
      model,
      tools,
    }),
  },
  observability: new Observability({
    configs: { otel: { serviceName: "mastra-edges", exporters: [exporter] } },
  }),
});

async function run(prompt, options = {}) {
  const agent = mastra.getAgent("edgeAgent");
  try {
    const result = await agent.generate(prompt, { maxSteps: 60, modelSettings: { maxRetries: 0 },
                                                  ...options });
    if (result.error) return { task: prompt, answer: null, raised: String(result.error),
                               finishReason: result.finishReason };
    return { task: prompt, answer: result.text, finishReason: result.finishReason, raised: null,
             model_calls: result.steps.length };
  } catch (error) {
    return { task: prompt, answer: null, raised: `${error.name}: ${error.message}` };
  }
}

const tasks = JSON.parse(process.argv[3]); // argv[2]: the runner's task list, unused
const out = {};
for (const [shape, task] of Object.entries(tasks)) {
  if (shape === "cancelled") continue;
  out[shape] = await run(task);
}
// Aborted while wait_forever runs: the agent's abortSignal.
const abort = new AbortController();
const cancelled = run(tasks.cancelled, { abortSignal: abort.signal });
await waitStarted;
abort.abort();
out.cancelled = { ...(await cancelled), cancelled: true };
await mastra.shutdown?.();
await exporter.shutdown?.();
console.log(JSON.stringify(out));
