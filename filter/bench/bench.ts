// npm run bench:filter [-- --json]
// Time the filter spends per request in the host emulator (context create, request headers,
// whole body, done), against V8's JSON.parse of the same body in the same run. Run under
// --no-liftoff like Envoy's V8 (see the npm script).
// For scale it also times the same request through an empty proxy-wasm filter
// (filter/bench/empty-filter, built by the npm script): what any wasm filter costs in this
// JavaScript emulator before it does any work of its own.
import * as fs from "node:fs";
import { ProxyWasmHost, HttpContext } from "../host";
import { WASM_PATH, EMPTY_WASM_PATH, benchBodies, BenchBody } from "./bodies";

const POLICY = JSON.stringify({
  defaultAction: "allow",
  maxBodyBytes: 2 * 1024 * 1024,
  userHeader: "x-user-id",
  rules: [{ name: "deny-risky-tools", action: "deny", tools: ["get-env", "gzip-*"] }],
});
const HEADERS: Array<[string, string]> = [
  [":method", "POST"], [":path", "/mcp"], [":authority", "gateway"], [":scheme", "http"],
  ["content-type", "application/json"], ["accept", "application/json, text/event-stream"],
  ["mcp-session-id", "0b9c1a9e-3d7c-4a52-9a3e-2f1d3c4b5a69"], ["mcp-protocol-version", "2025-06-18"], ["x-user-id", "user-1"],
];

function timePerOp(fn: () => void, minMs: number): number {
  let n = 1;
  // Grow the batch until it runs long enough to time reliably.
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    const ns = Number(process.hrtime.bigint() - t0);
    if (ns >= minMs * 1e6) return ns / n;
    n *= 2;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function runHeadersOnly(host: ProxyWasmHost): void {
  const ctx = host.newHttpContext();
  ctx.requestHeaders(HEADERS, false);
  ctx.done();
}

function runFilter(host: ProxyWasmHost, body: Buffer): HttpContext {
  const ctx = host.newHttpContext();
  ctx.requestHeaders(HEADERS, false);
  ctx.requestBody(body, true);
  ctx.done();
  return ctx;
}

function main(): void {
  const json = process.argv.includes("--json");
  const wasm = fs.readFileSync(WASM_PATH);
  const host = ProxyWasmHost.load(wasm, { pluginConfig: POLICY, allowOnHeadersStopIteration: true, logLevel: "warn" });
  if (!host.start()) throw new Error("the filter refused the bench policy");
  if (!fs.existsSync(EMPTY_WASM_PATH)) throw new Error(`${EMPTY_WASM_PATH} is missing; run npm run build:empty-filter (npm run bench:filter does)`);
  const empty = ProxyWasmHost.load(fs.readFileSync(EMPTY_WASM_PATH), { pluginConfig: "", allowOnHeadersStopIteration: true, logLevel: "warn" });
  if (!empty.start()) throw new Error("the empty filter did not start");
  const cases = benchBodies().map((c: BenchBody) => {
    // Sanity: the filter must really judge (and forward) this body, or the timing means nothing.
    const probe = runFilter(host, c.body);
    if (probe.localReply || !probe.upstream.ended || probe.upstream.body.length !== c.body.length) throw new Error(`${c.name}: the filter did not forward the bench body`);
    const minMs = c.body.length > 100_000 ? 300 : 150;
    const filter: number[] = [];
    const headersOnly: number[] = [];
    const parse: number[] = [];
    const emptyFilter: number[] = [];
    for (let round = 0; round < 7; round++) {
      filter.push(timePerOp(() => runFilter(host, c.body), minMs));
      headersOnly.push(timePerOp(() => runHeadersOnly(host), 50));
      parse.push(timePerOp(() => JSON.parse(c.body.toString("utf8")), minMs));
      emptyFilter.push(timePerOp(() => runFilter(empty, c.body), 50));
    }
    const filterNs = Math.round(median(filter));
    const jsonParseNs = Math.round(median(parse));
    // The body callback alone (reading, judging, routing headers, audit): the whole request less
    // the same request without its body.
    const judgeNs = Math.max(0, filterNs - Math.round(median(headersOnly)));
    const emptyFilterNs = Math.round(median(emptyFilter));
    return { name: c.name, bytes: c.body.length, filterNs, jsonParseNs, ratio: Number((filterNs / jsonParseNs).toFixed(3)), judgeNs, emptyFilterNs };
  });
  if (host.traps !== 0 || empty.traps !== 0) throw new Error(`the filter trapped ${host.traps} times, the empty filter ${empty.traps}`);
  const result = { wasmBytes: wasm.length, cases };
  if (json) { console.log(JSON.stringify(result)); return; }
  console.log(`mcp_filter.wasm: ${wasm.length} bytes (node ${process.version}, ${process.execArgv.join(" ") || "default flags"})`);
  const us = (ns: number, w: number): string => (ns / 1000).toFixed(2).padStart(w);
  console.log("case".padEnd(24) + "bytes".padStart(10) + "filter µs".padStart(12) + "JSON.parse µs".padStart(15) + "ratio".padStart(8) + "body callback µs".padStart(18) + "empty filter µs".padStart(17));
  for (const c of cases) {
    console.log(c.name.padEnd(24) + String(c.bytes).padStart(10) + us(c.filterNs, 12) + us(c.jsonParseNs, 15) + c.ratio.toFixed(2).padStart(8) + us(c.judgeNs, 18) + us(c.emptyFilterNs, 17));
  }
  console.log("filter µs: a whole request (context, headers, body, done) in the emulator; goals: ratio <= 2 small, <= 1 at 64 KB and 1 MB");
  console.log("body callback µs: the request less the same request without a body; empty filter µs: the request through a filter that only continues");
}

main();
