// The sessions shapes on Mastra (sessions_scenario.py): an Agent with the sessions tools
// (node_shared/session_tools.mjs), traced by Mastra's observability with its OpenTelemetry
// exporter (OTLP/HTTP protobuf to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). Driven by
// capture_sessions_node.py, which serves the model (SCRIPTED_BASE_URL) and receives the
// spans; prints what each call returned as JSON. The run given an earlier exchange gets it
// as the messages it generates from.
import { Mastra } from "@mastra/core/mastra";
import { Agent } from "@mastra/core/agent";
import { createTool } from "@mastra/core/tools";
import { Observability } from "@mastra/observability";
import { OtelExporter } from "@mastra/otel-exporter";
import { sessionTools } from "../node_shared/session_tools.mjs";
import { scriptedModel } from "../node_shared/scripted_model.mjs";

const exporter = new OtelExporter({
  provider: {
    custom: { endpoint: process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, protocol: "http/protobuf" },
  },
});
const mastra = new Mastra({
  agents: {
    sessionAgent: new Agent({
      id: "session-agent",
      name: "session_agent",
      instructions: "Answer with the tools.",
      model: scriptedModel("scripted-sessions"),
      tools: sessionTools((id, spec) => createTool({ id, ...spec })),
    }),
  },
  observability: new Observability({
    configs: { otel: { serviceName: "mastra-sessions", exporters: [exporter] } },
  }),
});

async function run(task, input) {
  const agent = mastra.getAgent("sessionAgent");
  try {
    const result = await agent.generate(input, { maxSteps: 10, modelSettings: { maxRetries: 0 } });
    if (result.error) return { task, answer: null, raised: String(result.error) };
    return { task, answer: result.text, raised: null, model_calls: result.steps.length };
  } catch (error) {
    return { task, answer: null, raised: `${error.name}: ${error.message}` };
  }
}

const tasks = JSON.parse(process.argv[3]); // argv[2]: the runner's task list, unused
const out = {};
for (const shape of ["parallel", "results", "bad_args", "unknown_tool"]) {
  out[shape] = await run(tasks[shape], tasks[shape]);
}
out.history = await run(tasks.history, [
  { role: "user", content: tasks.earlier },
  { role: "assistant", content: process.env.EARLIER_ANSWER },
  { role: "user", content: tasks.history },
]);
await mastra.shutdown?.();
await exporter.shutdown?.();
console.log(JSON.stringify(out));
