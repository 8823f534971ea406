// The tools of the sessions shapes (sessions_scenario.py) for a Node.js framework:
// get_weather raising for Atlantis, nothing answering "", list_files a list of records,
// read_log a long text (LONG_TEXT_JSON). `define(name, spec)` makes one in the framework's
// own form.
import { z } from "zod";

export function sessionTools(define) {
  return {
    get_weather: define("get_weather", {
      description: "The current weather in a city.",
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => {
        if (city === "Atlantis") throw new Error("no such city: Atlantis");
        return { city, celsius: 18, sky: "sunny" };
      },
    }),
    nothing: define("nothing", {
      description: "Read a key that holds nothing.",
      inputSchema: z.object({ key: z.string() }),
      execute: async () => "",
    }),
    list_files: define("list_files", {
      description: "List the files of a folder.",
      inputSchema: z.object({ folder: z.string() }),
      execute: async () => [{ name: "a.txt", bytes: 3 }, { name: "b.txt", bytes: 0 }],
    }),
    read_log: define("read_log", {
      description: "Read a long log.",
      inputSchema: z.object({ name: z.string() }),
      execute: async () => JSON.parse(process.env.LONG_TEXT_JSON),
    }),
  };
}
