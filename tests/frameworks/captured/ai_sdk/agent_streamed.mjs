// The captured agent on the Vercel AI SDK, streamed: streamText with two tools, get_weather
// failing on its first call, telemetry on, spans exported over OTLP/HTTP (protobuf) to
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. Driven by capture_ai_sdk.py, which serves the model
// (SCRIPTED_BASE_URL) and receives the spans; prints what streamText returned as JSON.
import { stepCountIs, streamText, tool } from "ai";
import { scriptedModel } from "../node_shared/scripted_model.mjs";
import { weatherTools } from "../node_shared/weather_tools.mjs";
import { toolCalls } from "./tool_calls.mjs";
import { provider, tracer } from "./tracing.mjs";

const model = scriptedModel("scripted-ai-sdk");
const tools = weatherTools((_name, spec) => tool(spec));

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
    const usage = await result.totalUsage;
    return { task: prompt, answer: await result.text, finishReason: await result.finishReason,
             tools: toolCalls(steps), input_tokens: usage.inputTokens, output_tokens: usage.outputTokens,
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
