// npm run bench:filter [-- --json]
// Time the filter spends per request in the host emulator (context create, request headers,
// whole body, done), against V8's JSON.parse of the same body in the same run. Run under
// --no-liftoff like Envoy's V8 (see the npm script).
// For scale it also times the same request through two reference filters built by the npm
// script (filter/bench/reference/): an empty proxy-wasm filter, what any wasm filter costs in
// this JavaScript emulator, and a floor filter that makes exactly the host calls mcp_filter
// makes for these requests and nothing else. The floor is the least a filter doing this job
// can cost here; what mcp_filter takes beyond it is its own work.
import * as fs from "node:fs";
import { ProxyWasmHost, HttpContext } from "../host";
import { parseModule } from "../host/wasm-binary";
import { WASM_PATH, EMPTY_WASM_PATH, FLOOR_WASM_PATH, benchBodies, BenchBody } from "./bodies";

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

// A resumed event stream (GET with Last-Event-ID) is rewritten event by event; an event that
// arrives in many chunks is held until whole. The cost per byte must not grow with the event.
const RESUMED_EVENT_MB = [1, 8];
const RESUMED_CHUNK = 16 * 1024;

function resumedEventNs(mb: number): number {
  const host = startModule(fs.readFileSync(WASM_PATH), JSON.stringify({ ...JSON.parse(POLICY), maxBodyBytes: 64 * 1024 * 1024 }), "the filter (resumed stream)");
  const ctx = host.newHttpContext();
  ctx.requestHeaders([[":method", "GET"], [":path", "/mcp"], [":authority", "gateway"], ["accept", "text/event-stream"], ["last-event-id", "1"]], true);
  ctx.responseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
  const chunk = Buffer.alloc(RESUMED_CHUNK, "x");
  const chunks = Math.ceil((mb * 1024 * 1024) / RESUMED_CHUNK);
  const t0 = process.hrtime.bigint();
  ctx.responseBody(Buffer.from("data: "), false);
  for (let i = 0; i < chunks; i++) ctx.responseBody(chunk, false);
  ctx.responseBody(Buffer.from("\n\n"), true);
  const ns = Number(process.hrtime.bigint() - t0);
  if (host.traps !== 0 || ctx.downstream.body.length < mb * 1024 * 1024) throw new Error("the resumed stream did not pass its event");
  return ns;
}

/** Loads and starts a module as the bench runs it; onHostCall traces its host calls. */
function startModule(wasm: Buffer, config: string, what: string, onHostCall?: (name: string) => void): ProxyWasmHost {
  const h = ProxyWasmHost.load(wasm, { pluginConfig: config, allowOnHeadersStopIteration: true, logLevel: "warn", onHostCall });
  if (!h.start()) throw new Error(`${what} did not start`);
  return h;
}

/** The host functions one request calls, sorted: the floor filter must make mcp_filter's. */
function hostCalls(wasm: Buffer, config: string, body: Buffer): string {
  const calls: string[] = [];
  const h = startModule(wasm, config, "a bench module", (name) => calls.push(name));
  runFilter(h, body); // the first request may allocate the module's pools
  calls.length = 0;
  runFilter(h, body);
  return calls.sort().join(" ");
}

/** The callbacks a module exports: the host calls only those, so the references must match mcp_filter. */
function callbacks(wasm: Buffer): string {
  return parseModule(wasm).exports.map((e) => e.name).filter((n) => n.startsWith("proxy_on_")).sort().join(" ");
}

function main(): void {
  const json = process.argv.includes("--json");
  const wasm = fs.readFileSync(WASM_PATH);
  const host = startModule(wasm, POLICY, "the filter (with the bench policy)");
  const reference = (file: string): Buffer => {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing; run npm run build:bench-filters (npm run bench:filter does)`);
    return fs.readFileSync(file);
  };
  const emptyWasm = reference(EMPTY_WASM_PATH);
  const empty = startModule(emptyWasm, "", EMPTY_WASM_PATH);
  const floorWasm = reference(FLOOR_WASM_PATH);
  for (const [file, ref] of [[EMPTY_WASM_PATH, emptyWasm], [FLOOR_WASM_PATH, floorWasm]] as const) {
    if (callbacks(ref) !== callbacks(wasm)) throw new Error(`${file} exports ${callbacks(ref)}; mcp_filter exports ${callbacks(wasm)}`);
  }
  const floor = startModule(floorWasm, "", FLOOR_WASM_PATH);
  const cases = benchBodies().map((c: BenchBody) => {
    // Sanity: the filter must really judge (and forward) this body, or the timing means nothing.
    const probe = runFilter(host, c.body);
    if (probe.localReply || !probe.upstream.ended || probe.upstream.body.length !== c.body.length) throw new Error(`${c.name}: the filter did not forward the bench body`);
    const floorProbe = runFilter(floor, c.body);
    if (floorProbe.localReply || !floorProbe.upstream.ended || String(floorProbe.upstream.headers) !== String(probe.upstream.headers)) throw new Error(`${c.name}: the floor filter did not forward what mcp_filter forwards`);
    const calls = hostCalls(wasm, POLICY, c.body);
    const floorCalls = hostCalls(floorWasm, "", c.body);
    if (calls !== floorCalls) throw new Error(`${c.name}: the floor filter's host calls (${floorCalls}) are not mcp_filter's (${calls})`);
    const minMs = c.body.length > 100_000 ? 300 : 150;
    const filter: number[] = [];
    const headersOnly: number[] = [];
    const parse: number[] = [];
    const emptyFilter: number[] = [];
    const floorFilter: number[] = [];
    for (let round = 0; round < 7; round++) {
      filter.push(timePerOp(() => runFilter(host, c.body), minMs));
      headersOnly.push(timePerOp(() => runHeadersOnly(host), 50));
      parse.push(timePerOp(() => JSON.parse(c.body.toString("utf8")), minMs));
      emptyFilter.push(timePerOp(() => runFilter(empty, c.body), 50));
      floorFilter.push(timePerOp(() => runFilter(floor, c.body), minMs));
    }
    const filterNs = Math.round(median(filter));
    const jsonParseNs = Math.round(median(parse));
    // The body callback alone (reading, judging, routing headers, audit): the whole request less
    // the same request without its body.
    const judgeNs = Math.max(0, filterNs - Math.round(median(headersOnly)));
    const emptyFilterNs = Math.round(median(emptyFilter));
    const floorFilterNs = Math.round(median(floorFilter));
    // mcp_filter's own work: what it takes beyond the floor filter's identical host calls.
    const ownNs = Math.max(0, filterNs - floorFilterNs);
    const ratio = (ns: number): number => Number((ns / jsonParseNs).toFixed(3));
    return { name: c.name, bytes: c.body.length, filterNs, jsonParseNs, ratio: ratio(filterNs), judgeNs, emptyFilterNs, floorFilterNs, floorRatio: ratio(floorFilterNs), ownNs, ownRatio: ratio(ownNs) };
  });
  const resumed = RESUMED_EVENT_MB.map((mb) => ({ eventBytes: mb * 1024 * 1024, chunkBytes: RESUMED_CHUNK, nsPerMB: Math.round(Math.min(...[0, 1, 2].map(() => resumedEventNs(mb))) / mb) }));
  if (host.traps + empty.traps + floor.traps !== 0) throw new Error(`traps: filter ${host.traps}, empty filter ${empty.traps}, floor filter ${floor.traps}`);
  const result = { wasmBytes: wasm.length, cases, resumed };
  if (json) { console.log(JSON.stringify(result)); return; }
  console.log(`mcp_filter.wasm: ${wasm.length} bytes (node ${process.version}, ${process.execArgv.join(" ") || "default flags"})`);
  const us = (ns: number, w: number): string => (ns / 1000).toFixed(2).padStart(w);
  const cols: Array<[string, number]> = [["case", 22], ["bytes", 9], ["filter µs", 11], ["JSON.parse µs", 15], ["ratio", 7], ["floor µs", 10], ["floor ratio", 13], ["own µs", 9], ["own ratio", 11], ["body cb µs", 12], ["empty µs", 10]];
  console.log(cols.map(([h, w], i) => (i === 0 ? h.padEnd(w) : h.padStart(w))).join(""));
  for (const c of cases) {
    console.log(c.name.padEnd(22) + String(c.bytes).padStart(9) + us(c.filterNs, 11) + us(c.jsonParseNs, 15) + c.ratio.toFixed(2).padStart(7)
      + us(c.floorFilterNs, 10) + c.floorRatio.toFixed(2).padStart(13) + us(c.ownNs, 9) + c.ownRatio.toFixed(2).padStart(11) + us(c.judgeNs, 12) + us(c.emptyFilterNs, 10));
  }
  for (const r of resumed) console.log(`resumed stream, one ${r.eventBytes / 1048576} MB event in ${r.chunkBytes / 1024} KB chunks: ${(r.nsPerMB / 1e6).toFixed(1)} ms per MB`);
  console.log("filter µs: a whole request (context, headers, body, done) in the emulator; ratio = filter / JSON.parse.");
  console.log("  Goals: ratio <= 2 for the small body, <= 1 at 64 KB and 1 MB.");
  console.log("floor µs: the same request through a filter that makes only mcp_filter's host calls (the least this job costs here).");
  console.log("own µs: filter less floor, mcp_filter's own work; body cb µs: the request less the same request without a body;");
  console.log("empty µs: the request through a filter that only continues.");
  console.log("resumed stream: a GET with Last-Event-ID whose events the filter holds until whole; the time per MB must not grow with the event.");
}

main();
