// The captured agent on the Vercel AI SDK, streamed: streamText with two tools, get_weather
// failing on its first call, telemetry on, spans exported over OTLP/HTTP (protobuf) to
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. Driven by capture_ai_sdk.py, which serves the model
// (SCRIPTED_BASE_URL) and receives the spans; prints what streamText returned as JSON.
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { stepCountIs, streamText, tool } from "ai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { z } from "zod";

// What NodeSDK and @vercel/otel register: without it no span has a parent.
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
})("scripted-ai-sdk");

let weatherCalls = 0;
const tools = {
  get_weather: tool({
    description: "The current weather in a city.",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      weatherCalls += 1;
      if (weatherCalls === 1) throw new Error("weather service timed out");
      return { celsius: 18, sky: "sunny", city };
    },
  }),
  to_fahrenheit: tool({
    description: "Celsius to Fahrenheit.",
    inputSchema: z.object({ celsius: z.number() }),
    execute: async ({ celsius }) => Math.round((celsius * 9) / 5 * 10 + 320) / 10,
  }),
};

async function run(prompt) {
  let streamError = null;
  try {
    const result = streamText({
      model,
      tools,
      prompt,
      maxRetries: 0,
      stopWhen: stepCountIs(6),
      onError: ({ error }) => { streamError = error; },
      experimental_telemetry: { isEnabled: true, functionId: "weather-agent", tracer },
    });
    let chunks = 0;
    for await (const _ of result.textStream) chunks += 1;
    if (streamError) return { task: prompt, raised: `${streamError.name}: ${streamError.message}` };
    const steps = await result.steps;
    const calls = steps.flatMap((s) =>
      s.content
        .filter((c) => c.type === "tool-result" || c.type === "tool-error")
        .map((c) => ({ name: c.toolName, args: c.input, error: c.type === "tool-error",
                       result: c.type === "tool-error" ? String(c.error) : c.output })),
    );
    const usage = await result.totalUsage;
    return { task: prompt, answer: await result.text, finishReason: await result.finishReason,
             tools: calls, input_tokens: usage.inputTokens, output_tokens: usage.outputTokens,
             model_calls: steps.length, chunks };
  } catch (error) {
    return { task: prompt, raised: `${error.name}: ${error.message}` };
  }
}

const [task, failing] = JSON.parse(process.argv[2]);
const out = { success: await run(task), fails: await run(failing) };
await provider.forceFlush();
await provider.shutdown();
console.log(JSON.stringify(out));
