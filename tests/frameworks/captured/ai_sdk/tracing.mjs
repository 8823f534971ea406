// The AI SDK drivers' tracing: spans exported over OTLP/HTTP (protobuf) to
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, one at a time as each ends.
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";

// What NodeSDK and @vercel/otel register: without it no span has a parent.
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
export const provider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter())],
});
export const tracer = provider.getTracer("ai");

