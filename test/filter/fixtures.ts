// Sample MCP bodies and server answers shared by the filter tests.
import { call } from "./helpers";

export const TOOLS = ["echo", "get-env", "get-sum", "gzip-file-as-resource", "trigger-long-running-operation"];

export function toolsResult(id = 2, names = TOOLS): string {
  return JSON.stringify({ jsonrpc: "2.0", id, result: { tools: names.map((name) => ({ name, description: `the ${name} tool`, inputSchema: { type: "object", properties: { name: { type: "string" } } } })) } });
}

export function sse(json: string, id = 1): string {
  return `event: message\nid: ${id}\ndata: ${json}\n\n`;
}

/** What the upstream would execute: tools/call names in the body as the server reads it. */
export function serverToolCalls(body: Buffer | string): string[] {
  const v = serverParse(body);
  if (v === undefined) return [];
  const msgs = Array.isArray(v) ? v : [v];
  return msgs.filter((m) => m && m.method === "tools/call" && m.params && typeof m.params.name === "string").map((m) => m.params.name);
}

/** The server's reading of a body, or undefined where it answers -32700. */
export function serverParse(body: Buffer | string): any {
  const text = new TextDecoder().decode(typeof body === "string" ? Buffer.from(body) : body);
  try { return JSON.parse(text); } catch { return undefined; }
}

export const SAMPLE_BODIES: Array<[string, string]> = [
  ["an allowed call", call("echo", 1, { message: "h\u00e9llo \"w\"" })],
  ["a denied call", call("get-env", 2)],
  ["an escaped denied call", '{"jsonrpc":"2.0","id":3,"method":"tools\\/call","params":{"name":"\\u0067et-env","arguments":{}}}'],
  ["a mixed batch", `[${call("echo", 4)},{"jsonrpc":"2.0","method":"notifications/initialized"},${call("gzip-file-as-resource", 5)}]`],
  ["malformed JSON", '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo"}'],
  ["an invalid request", '{"jsonrpc":"2.0","id":7,"method":["tools/call"]}'],
];

/** A small seeded PRNG (mulberry32), so that property and fuzz runs replay exactly. */
export function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
