// Generated MCP bodies, shared by the filter fuzz test and the Envoy differential test: seeds
// mutated byte by byte, random JSON, random bytes. Every function takes the caller's seeded
// PRNG, so a run replays from its seed.
import { call } from "./helpers";
import { SAMPLE_BODIES } from "./fixtures";

/** Fragments that break or bend JSON where the filter and a server could read it differently. */
export const TOKENS = ['"', "\\", "\\u", "\\u0067", "\\ud800", "{", "}", "[", "]", ",", ":", " ", "\n", "\u0000", "\u001f", "1e5", "-0", "true", "nul", "get-env", '"name"', '"method"', '"params"', "tools/call", "\xff", "\u00e9", "\ufeff"];

/** Bodies the mutations start from. */
export const SEED_BODIES = [
  ...SAMPLE_BODIES.map(([, b]) => b),
  call("get-env", 1), call("echo", "x", { deep: [[[{ a: "\"" }]]] }),
  `[${call("echo", 1)},${call("get-env", 2)}]`,
  '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"get-env"}}',
  '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get\\u002denv"}}',
];

export const pick = <T>(r: () => number, from: readonly T[]): T => from[Math.floor(r() * from.length)];

/** One to four edits: a byte replaced, a token inserted (as Latin-1 or UTF-8), a run deleted or duplicated. */
export function mutate(r: () => number, src: Buffer): Buffer {
  const edits = 1 + Math.floor(r() * 4);
  let b = src;
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(r() * (b.length + 1));
    const kind = Math.floor(r() * 5);
    if (kind === 0 && b.length > 0) { b = Buffer.from(b); b[Math.min(at, b.length - 1)] = Math.floor(r() * 256); }
    else if (kind === 1) b = Buffer.concat([b.subarray(0, at), Buffer.from(pick(r, TOKENS), "latin1"), b.subarray(at)]);
    else if (kind === 2) b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(r() * 8)))]);
    else if (kind === 3) { const from = Math.floor(r() * b.length); b = Buffer.concat([b.subarray(0, at), b.subarray(from, from + Math.floor(r() * 16)), b.subarray(at)]); }
    else b = Buffer.concat([b.subarray(0, at), Buffer.from(pick(r, TOKENS)), b.subarray(at)]);
  }
  return b;
}

/** Random JSON-ish text: mostly valid, with MCP keys, deep nesting and unbalanced brackets. */
export function randomJson(r: () => number, depth = 0): string {
  const k = Math.floor(r() * (depth > 6 ? 4 : 7));
  if (k === 0) return String(Math.floor(r() * 1000) - 500);
  if (k === 1) return JSON.stringify(pick(r, TOKENS));
  if (k === 2) return pick(r, ["true", "false", "null"]);
  if (k === 3) return JSON.stringify("s".repeat(Math.floor(r() * 40)) + "\"\\\u0001");
  if (k === 4) return "[" + Array.from({ length: Math.floor(r() * 4) }, () => randomJson(r, depth + 1)).join(",") + "]";
  if (k === 5) return "[".repeat(200 + Math.floor(r() * 2000)) + "]".repeat(Math.floor(r() * 2300));
  const keys = ["jsonrpc", "id", "method", "params", "name", "x"];
  return "{" + Array.from({ length: Math.floor(r() * 5) }, () => JSON.stringify(pick(r, keys)) + ":" + randomJson(r, depth + 1)).join(",") + "}";
}

/** A fuzz body: 60% a mutated seed, 30% random JSON, 10% random bytes. */
export function fuzzBody(r: () => number): Buffer {
  const k = r();
  if (k < 0.6) return mutate(r, Buffer.from(pick(r, SEED_BODIES)));
  if (k < 0.9) return Buffer.from(randomJson(r));
  const n = Math.floor(r() * 64);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
}
