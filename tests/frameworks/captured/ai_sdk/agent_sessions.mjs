// The sessions shapes on the Vercel AI SDK (sessions_scenario.py): generateText with the
// sessions tools (node_shared/session_tools.mjs), telemetry on, spans exported over OTLP/HTTP
// (protobuf) to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. Driven by capture_sessions_node.py, which
// serves the model (SCRIPTED_BASE_URL) and receives the spans; prints what each call
// returned as JSON. The run given an earlier exchange gets it as `messages`.
import { generateText, stepCountIs, tool } from "ai";
import { sessionTools } from "../node_shared/session_tools.mjs";
import { scriptedModel } from "../node_shared/scripted_model.mjs";
import { provider, tracer } from "./tracing.mjs";

const model = scriptedModel("scripted-sessions");
const tools = sessionTools((_name, spec) => tool(spec));

async function run(task, input) {
  try {
    const result = await generateText({
      model,
      tools,
      ...input,
      maxRetries: 0,
      stopWhen: stepCountIs(10),
      experimental_telemetry: { isEnabled: true, functionId: "session_agent", tracer },
    });
    return { task, answer: result.text, raised: null, model_calls: result.steps.length };
  } catch (error) {
    return { task, answer: null, raised: `${error.name}: ${error.message}` };
  }
}

const tasks = JSON.parse(process.argv[3]); // argv[2]: the runner's task list, unused
const out = {};
for (const shape of ["parallel", "results", "bad_args", "unknown_tool"]) {
  out[shape] = await run(tasks[shape], { prompt: tasks[shape] });
}
const earlier = [
  { role: "user", content: tasks.earlier },
  { role: "assistant", content: process.env.EARLIER_ANSWER },
  { role: "user", content: tasks.history },
];
out.history = await run(tasks.history, { messages: earlier });
await provider.forceFlush();
await provider.shutdown();
console.log(JSON.stringify(out));
