// The sessions shapes (sessions_scenario.py) on the OpenAI Agents SDK for JavaScript: an
// Agent with get_weather (throwing for Atlantis), nothing (""), list_files (records) and
// read_log (LONG_TEXT_JSON); two calls in one turn, the odd results, a wrong argument, a tool
// it does not have, and a run given an earlier exchange as input items. The Responses API on
// the scripted server (SCRIPTED_BASE_URL); traced by OpenInference's OpenAI Agents
// instrumentation (OTLP/HTTP protobuf to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). Driven by
// capture_sessions_node.py; prints what each run returned as JSON.
const { context, trace } = require("@opentelemetry/api");
const { AsyncLocalStorageContextManager } = require("@opentelemetry/context-async-hooks");
const { BasicTracerProvider, SimpleSpanProcessor } = require("@opentelemetry/sdk-trace-base");
const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-proto");
const { OpenAIAgentsInstrumentation } = require("@arizeai/openinference-instrumentation-openai-agents");
const agents = require("@openai/agents");
const { OpenAI } = require("openai");
const { z } = require("zod");

const provider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter())],
});
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);
new OpenAIAgentsInstrumentation({ tracerProvider: provider }).manuallyInstrument(agents);

const { Agent, run, tool, setDefaultOpenAIClient, getGlobalTraceProvider } = agents;
setDefaultOpenAIClient(new OpenAI({ baseURL: process.env.SCRIPTED_BASE_URL, apiKey: "none", maxRetries: 0 }));

const tools = [
  tool({
    name: "get_weather",
    description: "The current weather in a city.",
    parameters: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      if (city === "Atlantis") throw new Error("no such city: Atlantis");
      return JSON.stringify({ city, celsius: 18, sky: "sunny" });
    },
  }),
  tool({
    name: "nothing",
    description: "Read a key that holds nothing.",
    parameters: z.object({ key: z.string() }),
    execute: async () => "",
  }),
  tool({
    name: "list_files",
    description: "List the files of a folder.",
    parameters: z.object({ folder: z.string() }),
    execute: async () => JSON.stringify([{ name: "a.txt", bytes: 3 }, { name: "b.txt", bytes: 0 }]),
  }),
  tool({
    name: "read_log",
    description: "Read a long log.",
    parameters: z.object({ name: z.string() }),
    execute: async () => JSON.parse(process.env.LONG_TEXT_JSON),
  }),
];
const agent = new Agent({ name: "session_agent", instructions: "Answer.", model: "scripted-sessions", tools });

async function ask(task, input) {
  try {
    const result = await run(agent, input, { maxTurns: 10 });
    return { task, answer: result.finalOutput, raised: null, model_calls: result.rawResponses.length };
  } catch (error) {
    return { task, answer: null, raised: `${error.name}: ${error.message}` };
  }
}

async function main() {
  const tasks = JSON.parse(process.argv[3]); // argv[2]: the runner's task list, unused
  const out = {};
  for (const shape of ["parallel", "results", "bad_args", "unknown_tool"]) {
    out[shape] = await ask(tasks[shape], tasks[shape]);
  }
  out.history = await ask(tasks.history, [
    { role: "user", content: tasks.earlier },
    { role: "assistant", status: "completed",
      content: [{ type: "output_text", text: process.env.EARLIER_ANSWER }] },
    { role: "user", content: tasks.history },
  ]);
  await getGlobalTraceProvider().forceFlush();
  await provider.forceFlush();
  await provider.shutdown();
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
