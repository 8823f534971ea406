// The edge shapes on the Vercel AI SDK (edges_more_scenario.py): generateText with the edge
// tools (node_shared/edge_shapes.mjs), telemetry on, spans exported over OTLP/HTTP (protobuf)
// to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. Driven by capture_edges_node.py, which serves the
// model (SCRIPTED_BASE_URL) and receives the spans; prints what each call returned as JSON.
// The cancelled call is aborted through its abortSignal: the SDK's own way to cancel a call.
import { generateText, stepCountIs, tool } from "ai";
import { edgeTools, runEdgeShapes } from "../node_shared/edge_shapes.mjs";
import { scriptedModel } from "../node_shared/scripted_model.mjs";
import { provider, tracer } from "./tracing.mjs";

const model = scriptedModel("scripted-edges");
const { tools, waitStarted } = edgeTools(
  (_name, spec) => tool(spec),
  ({ abortSignal }) => abortSignal,
);

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
const out = await runEdgeShapes(tasks, run, waitStarted);
await provider.forceFlush();
await provider.shutdown();
console.log(JSON.stringify(out));
