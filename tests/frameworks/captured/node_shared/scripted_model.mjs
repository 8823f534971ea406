// The model every Node.js capture driver calls: the runner's scripted OpenAI-compatible
// server at SCRIPTED_BASE_URL, asked to report token usage.
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";

export function scriptedModel(modelId) {
  return createOpenAICompatible({
    name: "scripted",
    baseURL: process.env.SCRIPTED_BASE_URL,
    apiKey: "none",
    includeUsage: true,
  })(modelId);
}
