// The captured agent on Mastra: an Agent with two tools, get_weather failing on its first
// call (then a run whose model call fails, and a streamed run), traced by Mastra's observability with its OpenTelemetry exporter (OTLP/HTTP protobuf
// to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). Driven by capture_mastra.py, which serves the model
// (SCRIPTED_BASE_URL) and receives the spans; prints what agent.generate returned as JSON.
import { Mastra } from "@mastra/core/mastra";
import { Agent } from "@mastra/core/agent";
import { createTool } from "@mastra/core/tools";
import { Observability } from "@mastra/observability";
import { OtelExporter } from "@mastra/otel-exporter";
import { scriptedModel } from "../node_shared/scripted_model.mjs";
import { weatherTools } from "../node_shared/weather_tools.mjs";

const model = scriptedModel("scripted-mastra");
const tools = weatherTools((id, spec) => createTool({ id, ...spec }));

const exporter = new OtelExporter({
  provider: {
    custom: { endpoint: process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, protocol: "http/protobuf" },
  },
});
const mastra = new Mastra({
  agents: {
    weatherAgent: new Agent({
      id: "weather-agent",
      name: "Weather Agent",
      instructions: "Answer weather questions with the tools.",
      model,
      tools,
    }),
  },
  observability: new Observability({
    configs: { otel: { serviceName: "mastra-weather", exporters: [exporter] } },
  }),
});

async function run(prompt) {
  const agent = mastra.getAgent("weatherAgent");
  try {
    const result = await agent.generate(prompt, { maxSteps: 6, modelSettings: { maxRetries: 0 } });
    if (result.error) return { task: prompt, raised: String(result.error), finishReason: result.finishReason };
    const calls = result.steps.flatMap((s) =>
      s.content
        .filter((c) => c.type === "tool-result" || c.type === "tool-error")
        // Mastra hands a thrown error to the model as an "error-text" result.
        .map((c) => ({ name: c.toolName, args: c.input,
                       error: c.type === "tool-error" || c.output?.type === "error-text",
                       result: c.type === "tool-error" ? String(c.error) : (c.output?.value ?? c.output) })),
    );
    return { task: prompt, answer: result.text, finishReason: result.finishReason, tools: calls,
             input_tokens: result.totalUsage?.inputTokens, output_tokens: result.totalUsage?.outputTokens,
             model_calls: result.steps.length };
  } catch (error) {
    return { task: prompt, raised: `${error.name}: ${error.message}` };
  }
}

async function streamed(prompt) {
  const agent = mastra.getAgent("weatherAgent");
  const stream = await agent.stream(prompt, { maxSteps: 6 });
  return { task: prompt, answer: await stream.text, model_calls: (await stream.steps).length };
}

const [task, failing, streamedTask] = JSON.parse(process.argv[2]);
const out = { success: await run(task), fails: await run(failing), streamed: await streamed(streamedTask) };
await mastra.shutdown?.();
await exporter.shutdown?.();
console.log(JSON.stringify(out));
