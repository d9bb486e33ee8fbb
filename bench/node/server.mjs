// Variant (c): the benchmark workload as an @inngest/agent-kit network, served by
// the `inngest` npm SDK on 127.0.0.1. Started by bench/node_app.py, which installs
// the pinned packages next to a copy of this file (outside the repository).
//
//   node server.mjs <executor URL> <provider URL> <effects file> <on|off>
//
// The last argument turns the SDK's checkpointing on or off. Prints "READY <port>".
import fs from "node:fs";
import http from "node:http";
import { createAgent, createNetwork, createTool, openai } from "@inngest/agent-kit";
import { Inngest } from "inngest";
import { serve } from "inngest/node";
import { z } from "zod";

const [executorUrl, providerUrl, effectsPath, checkpointing] = process.argv.slice(2);
const PREFIX = "BENCH ";

const inngest = new Inngest({
  id: "bench",
  isDev: true,
  baseUrl: executorUrl,
  checkpointing: checkpointing === "on",
});

const bump = createTool({
  name: "bump",
  description: "Count one tool call of the benchmark.",
  parameters: z.object({ tag: z.string(), turn: z.number(), slot: z.number(), ms: z.number() }),
  handler: async ({ tag, turn, slot, ms }) => {
    fs.appendFileSync(effectsPath, `${tag} ${turn} ${slot}\n`);
    if (ms) await new Promise((resolve) => setTimeout(resolve, ms));
    return { ok: true, turn, slot };
  },
});

const worker = createAgent({
  name: "Worker",
  system: "You are Worker.",
  model: openai({ model: "gpt-bench", apiKey: "bench", baseUrl: `${providerUrl}/v1/` }),
  tools: [bump],
});

const bench = inngest.createFunction(
  { id: "network-bench", triggers: [{ event: "bench/network-bench" }] },
  async ({ event }) => {
    const input = event.data.input;
    const plan = JSON.parse(input.slice(PREFIX.length));
    const network = createNetwork({
      name: "Bench",
      agents: [worker],
      router: ({ callCount }) => (callCount < plan.turns ? worker : undefined),
      maxIter: plan.turns + 1,
    });
    await network.run(input);
    return { turns: plan.turns };
  },
);

const handler = serve({ client: inngest, functions: [bench] });
const server = http.createServer(handler);
server.listen(0, "127.0.0.1", () => {
  console.log(`READY ${server.address().port}`);
});
