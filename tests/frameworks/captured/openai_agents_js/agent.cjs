// The captured agent on the OpenAI Agents SDK for JavaScript (@openai/agents): an Agent with two
// tools, get_weather failing on its first call (the SDK tells the model the error); a run whose
// model call fails; an agent asked through another agent's tool (agent.asTool); a run stopped by
// maxTurns. The model is the SDK's default, the Responses API, on the scripted server
// (SCRIPTED_BASE_URL). Traced by OpenInference's OpenAI Agents instrumentation, which replaces
// the SDK's trace processors with one writing OpenTelemetry spans (OTLP/HTTP protobuf to
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). Driven by capture_openai_agents_js.py; prints what each
// run returned as JSON. With "streamed" as the second argument every run is streamed
// (run(..., { stream: true }), its events read to the end).
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
const instrumentation = new OpenAIAgentsInstrumentation({ tracerProvider: provider });
instrumentation.manuallyInstrument(agents);

const { Agent, run, tool, setDefaultOpenAIClient, getGlobalTraceProvider } = agents;
setDefaultOpenAIClient(new OpenAI({ baseURL: process.env.SCRIPTED_BASE_URL, apiKey: "none", maxRetries: 0 }));
const MODEL = "scripted-openai-agents-js";

function weatherTools(calls) {
  let weatherCalls = 0;
  const getWeather = tool({
    name: "get_weather",
    description: "The current weather in a city.",
    parameters: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      weatherCalls += 1;
      const call = { name: "get_weather", args: { city }, error: true };
      calls.push(call);
      if (weatherCalls === 1) throw new Error("weather service timed out");
      call.error = false;
      call.result = JSON.stringify({ celsius: 18, sky: "sunny", city });
      return call.result;
    },
  });
  const toFahrenheit = tool({
    name: "to_fahrenheit",
    description: "Celsius to Fahrenheit.",
    parameters: z.object({ celsius: z.number() }),
    execute: async ({ celsius }) => {
      const result = String(Math.round(((celsius * 9) / 5) * 10 + 320) / 10);
      calls.push({ name: "to_fahrenheit", args: { celsius }, error: false, result });
      return result;
    },
  });
  return [getWeather, toFahrenheit];
}

function weatherAgent(calls) {
  return new Agent({ name: "weather_agent", instructions: "Answer briefly.", model: MODEL, tools: weatherTools(calls) });
}

const STREAMED = process.argv[3] === "streamed";

async function runToEnd(agent, prompt, options) {
  if (!STREAMED) return run(agent, prompt, options);
  const result = await run(agent, prompt, { ...options, stream: true });
  for await (const _event of result) {
    // read every event: the run goes on as they are consumed
  }
  await result.completed;
  if (result.error) throw result.error;
  return result;
}

async function ask(agent, prompt, calls, options = {}) {
  try {
    const result = await runToEnd(agent, prompt, options);
    const usage = result.rawResponses.map((r) => r.usage);
    return {
      task: prompt,
      answer: result.finalOutput,
      tools: calls,
      input_tokens: usage.reduce((n, u) => n + u.inputTokens, 0),
      output_tokens: usage.reduce((n, u) => n + u.outputTokens, 0),
      model_calls: usage.length,
    };
  } catch (error) {
    return { task: prompt, raised: `${error.name}: ${error.message}`, tools: calls };
  }
}

async function main() {
  const [task, failing, parentTask, limitTask] = JSON.parse(process.argv[2]);
  const out = {};
  let calls = [];
  out.success = await ask(weatherAgent(calls), task, calls);
  calls = [];
  out.fails = await ask(weatherAgent(calls), failing, calls);
  const converterCalls = [];
  const converter = new Agent({
    name: "converter",
    instructions: "Convert temperatures.",
    model: MODEL,
    tools: weatherTools(converterCalls).slice(1),
  });
  const manager = new Agent({
    name: "manager",
    instructions: "Delegate.",
    model: MODEL,
    tools: [converter.asTool({ toolName: "ask_converter", toolDescription: "Ask the converter." })],
  });
  out.sub_agent = await ask(manager, parentTask, []);
  out.sub_agent.sub_tools = converterCalls;
  calls = [];
  out.limit = await ask(weatherAgent(calls), limitTask, calls, { maxTurns: 2 });
  await getGlobalTraceProvider().forceFlush();
  await provider.forceFlush();
  await provider.shutdown();
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
