// The captured agent on the Vercel AI SDK: generateText with two tools, get_weather failing
// on its first call, telemetry on, spans exported over OTLP/HTTP (protobuf) to
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. Driven by capture_ai_sdk.py, which serves the model
// (SCRIPTED_BASE_URL) and receives the spans; prints what generateText returned as JSON.
import { generateText, stepCountIs, tool } from "ai";
import { scriptedModel } from "../node_shared/scripted_model.mjs";
import { weatherTools } from "../node_shared/weather_tools.mjs";
import { toolCalls } from "./tool_calls.mjs";
import { provider, tracer } from "./tracing.mjs";

const model = scriptedModel("scripted-ai-sdk");
const tools = weatherTools((_name, spec) => tool(spec));

async function run(prompt) {
  try {
    const result = await generateText({
      model,
      tools,
      prompt,
      maxRetries: 0,
      stopWhen: stepCountIs(6),
      experimental_telemetry: { isEnabled: true, functionId: "weather-agent", tracer },
    });
    return { task: prompt, answer: result.text, finishReason: result.finishReason,
             tools: toolCalls(result.steps), input_tokens: result.totalUsage.inputTokens,
             output_tokens: result.totalUsage.outputTokens, model_calls: result.steps.length };
  } catch (error) {
    return { task: prompt, raised: `${error.name}: ${error.message}` };
  }
}

const [task, failing] = JSON.parse(process.argv[2]);
const out = { success: await run(task), fails: await run(failing) };
await provider.forceFlush();
await provider.shutdown();
console.log(JSON.stringify(out));
