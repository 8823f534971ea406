// The edge shapes on Mastra (edges_more_scenario.py): an Agent with the edge tools
// (node_shared/edge_shapes.mjs), traced by Mastra's observability with its OpenTelemetry
// exporter (OTLP/HTTP protobuf to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). Driven by capture_edges_node.py, which serves the
// model (SCRIPTED_BASE_URL) and receives the spans; prints what each call returned as JSON.
import { Mastra } from "@mastra/core/mastra";
import { Agent } from "@mastra/core/agent";
import { createTool } from "@mastra/core/tools";
import { Observability } from "@mastra/observability";
import { OtelExporter } from "@mastra/otel-exporter";
import { edgeTools, runEdgeShapes } from "../node_shared/edge_shapes.mjs";
import { scriptedModel } from "../node_shared/scripted_model.mjs";

const model = scriptedModel("scripted-edges");
// A signal that never aborts stands in when Mastra hands the tool none: the wait then lasts.
const neverAborted = new AbortController().signal;
const { tools, waitStarted } = edgeTools(
  (id, spec) => createTool({ id, ...spec }),
  (context) => context?.abortSignal ?? neverAborted,
);

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
// Aborted while wait_forever runs: the agent's abortSignal.
const out = await runEdgeShapes(tasks, run, waitStarted);
await mastra.shutdown?.();
await exporter.shutdown?.();
console.log(JSON.stringify(out));
