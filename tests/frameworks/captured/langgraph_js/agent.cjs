// The captured agent on LangChain.js / LangGraph.js: createAgent (a LangGraph graph) with two
// tools, get_weather failing on its first call; a run whose model call fails; and an agent
// asked through another agent's tool. Traced by OpenInference's LangChain.js instrumentation
// (OTLP/HTTP protobuf to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). Driven by
// capture_langgraph_js.py, which serves the model (SCRIPTED_BASE_URL) and receives the spans;
// prints what each agent.invoke returned as JSON. CommonJS: the instrumentation patches the
// callbacks module object, which an ES module namespace would not let it do.
const { context, trace } = require("@opentelemetry/api");
const { AsyncLocalStorageContextManager } = require("@opentelemetry/context-async-hooks");
const { BasicTracerProvider, SimpleSpanProcessor } = require("@opentelemetry/sdk-trace-base");
const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-proto");
const { LangChainInstrumentation } = require("@arizeai/openinference-instrumentation-langchain");
const CallbackManagerModule = require("@langchain/core/callbacks/manager");

const provider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter())],
});
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);
const instrumentation = new LangChainInstrumentation({ tracerProvider: provider });
instrumentation.manuallyInstrument(CallbackManagerModule);

const { createAgent, tool } = require("langchain");
const { ChatOpenAI } = require("@langchain/openai");
const { z } = require("zod");

function model(name = "scripted-langgraph-js") {
  return new ChatOpenAI({
    model: name,
    apiKey: "none",
    maxRetries: 0,
    configuration: { baseURL: process.env.SCRIPTED_BASE_URL },
  });
}

let weatherCalls = 0;
const getWeather = tool(
  async ({ city }) => {
    weatherCalls += 1;
    if (weatherCalls === 1) throw new Error("weather service timed out");
    return JSON.stringify({ celsius: 18, sky: "sunny", city });
  },
  { name: "get_weather", description: "The current weather in a city.", schema: z.object({ city: z.string() }) },
);
const toFahrenheit = tool(
  async ({ celsius }) => String(Math.round(((celsius * 9) / 5) * 10 + 320) / 10),
  { name: "to_fahrenheit", description: "Celsius to Fahrenheit.", schema: z.object({ celsius: z.number() }) },
);

function weatherAgent() {
  return createAgent({ model: model(), tools: [getWeather, toFahrenheit], systemPrompt: "Answer briefly.", name: "weather_agent" });
}

function text(message) {
  const content = message.content;
  if (typeof content === "string") return content;
  return content.filter((p) => p.type === "text").map((p) => p.text).join("");
}

async function run(agent, prompt) {
  try {
    const state = await agent.invoke({ messages: [{ role: "user", content: prompt }] });
    const messages = state.messages;
    const calls = {};
    for (const m of messages) {
      for (const c of m.tool_calls ?? []) calls[c.id] = { name: c.name, args: c.args };
      if (m._getType?.() === "tool" || m.type === "tool") {
        calls[m.tool_call_id].result = text(m);
        calls[m.tool_call_id].error = m.status === "error";
      }
    }
    const usage = messages.filter((m) => m.usage_metadata).map((m) => m.usage_metadata);
    return {
      task: prompt,
      answer: text(messages[messages.length - 1]),
      tools: Object.values(calls),
      input_tokens: usage.reduce((n, u) => n + u.input_tokens, 0),
      output_tokens: usage.reduce((n, u) => n + u.output_tokens, 0),
      model_calls: usage.length,
    };
  } catch (error) {
    return { task: prompt, raised: `${error.name}: ${error.message}` };
  }
}

async function main() {
  const [task, failing, parentTask] = JSON.parse(process.argv[2]);
  const out = {};
  out.success = await run(weatherAgent(), task);
  out.fails = await run(weatherAgent(), failing);
  const converter = createAgent({ model: model(), tools: [toFahrenheit], systemPrompt: "Convert temperatures.", name: "converter" });
  const askConverter = tool(
    async ({ task: asked }) => {
      const state = await converter.invoke({ messages: [{ role: "user", content: asked }] });
      return text(state.messages[state.messages.length - 1]);
    },
    { name: "ask_converter", description: "Ask the converter.", schema: z.object({ task: z.string() }) },
  );
  const manager = createAgent({ model: model(), tools: [askConverter], systemPrompt: "Delegate.", name: "manager" });
  out.sub_agent = await run(manager, parentTask);
  await provider.forceFlush();
  await provider.shutdown();
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
