// The captured agent's two tools (agent_scenario.py): get_weather, failing on its first
// call, and to_fahrenheit. `define(name, spec)` makes one in the framework's own form.
import { z } from "zod";

export function weatherTools(define) {
  let weatherCalls = 0;
  return {
    get_weather: define("get_weather", {
      description: "The current weather in a city.",
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => {
        weatherCalls += 1;
        if (weatherCalls === 1) throw new Error("weather service timed out");
        return { celsius: 18, sky: "sunny", city };
      },
    }),
    to_fahrenheit: define("to_fahrenheit", {
      description: "Celsius to Fahrenheit.",
      inputSchema: z.object({ celsius: z.number() }),
      execute: async ({ celsius }) => Math.round((celsius * 9) / 5 * 10 + 320) / 10,
    }),
  };
}
