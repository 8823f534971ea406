// The edge shapes on the Vercel AI SDK (edges_more_scenario.py): generateText with the edge
// tools (tick, lookup, open_vault that throws, wait_forever that waits until aborted),
// telemetry on, spans exported over OTLP/HTTP (protobuf) to
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. Driven by capture_edges_node.py, which serves the
// model (SCRIPTED_BASE_URL) and receives the spans; prints what each call returned as JSON.
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { generateText, stepCountIs, tool } from "ai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { z } from "zod";

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const provider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter())],
});
const tracer = provider.getTracer("ai");
const model = createOpenAICompatible({
  name: "scripted",
  baseURL: process.env.SCRIPTED_BASE_URL,
  apiKey: "none",
  includeUsage: true,
})("scripted-edges");

let started = null; // resolves when wait_forever starts
const waitStarted = new Promise((resolve) => { started = resolve; });
const tools = {
  tick: tool({
    description: "Count one tick.",
    inputSchema: z.object({ n: z.number() }),
    execute: async ({ n }) => `tick ${n} counted`,
  }),
  lookup: tool({
    description: "Look a query up.",
    inputSchema: z.object({ query: z.string() }),
    execute: async () => JSON.parse(process.env.HOSTILE_RESULT_JSON),
  }),
  open_vault: tool({
    description: "Open the vault with a code.",
    inputSchema: z.object({ code: z.string() }),
    execute: async ({ code }) => { throw new Error(`${process.env.RAISED} (code ${code})`); },
  }),
  wait_forever: tool({
    description: "Wait for a slow service.",
    inputSchema: z.object({ seconds: z.number() }),
    execute: async (_input, { abortSignal }) => {
      started();
      await new Promise((_resolve, reject) => {
        abortSignal.addEventListener("abort", () => reject(abortSignal.reason));
      });
      return "never";
    },
  }),
};

async function run(prompt, options = {}) {
  try {
    const result = await generateText({
      model,
      tools,
      prompt,
      maxRetries: 0,
      stopWhen: stepCountIs(60),
      experimental_telemetry: { isEnabled: true, functionId: "edge_agent", tracer },
      ...options,
    });
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
// Aborted while wait_forever runs: the SDK's own way to cancel a call.
const abort = new AbortController();
const cancelled = run(tasks.cancelled, { abortSignal: abort.signal });
await waitStarted;
abort.abort();
out.cancelled = { ...(await cancelled), cancelled: true };
await provider.forceFlush();
await provider.shutdown();
console.log(JSON.stringify(out));
