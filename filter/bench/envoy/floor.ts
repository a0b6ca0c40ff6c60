// F, the floor: a wasm module that makes exactly the host calls the filter (B) makes for a small
// allowed tools/call, and does nothing else. It reads the request header map and the whole body,
// sets x-mcp-method and x-mcp-tool, increments two counters and logs one audit-sized line, and
// exports the callbacks B exports. It judges nothing: its cost is what Envoy charges any proxy-wasm
// filter that does this job, which B's cost cannot go below. Measured beside A and B, it shows how
// much of B's added cost is B's own code and how much is the ABI's.
//
// E, the empty module, exports the same callbacks and makes no host call: every callback only
// continues. It is what Envoy charges for running any wasm filter at all.
//
// Both are written with the emulator tests' wasm encoder (test/host/proxy-module.ts), so it needs no
// compiler and holds no allocator: its malloc hands out one scratch region, since every buffer the
// host writes is dropped before the next call.
import * as fs from "node:fs";
import * as path from "node:path";
import { ProxyModule, OUT_PTR, OUT_SIZE, i32, i64, local, op } from "../../../test/host/proxy-module";
import { HEAP_START } from "../../../test/host/wasm-builder";

/** The counters' names; Envoy shows them as wasmcustom.<name>. */
export const FLOOR_REQUESTS_METRIC = "bench_floor.requests";
const FLOOR_TOOL_METRIC = "bench_floor.tool_calls";

// Where the two metric ids live in the module's memory (below the data segments at 256).
const REQUESTS_ID = 48;
const TOOL_ID = 52;

// proxy-wasm enums (ABI 0.2.0): header map and buffer types, log level, filter statuses.
const REQUEST_HEADERS = 0;
const REQUEST_BODY = 0;
const LOG_INFO = 2;
const COUNTER = 0;
const CONTINUE = 0;
const STOP = 1; // StopIteration for headers, StopIterationAndBuffer for a body

/** The audit line B writes for the bench's small call, with the bench's client headers. */
const AUDIT_LINE = JSON.stringify({
  audit: "mcp", session: "0b9c1a9e-3d7c-4a52-9a3e-2f1d3c4b5a69", user: "user-1", protocol: null,
  method: "tools/call", id: 42, tool: "echo", decision: "allow", rule: "default", mode: "enforce",
  forwarded: true, bytes: 283,
});

export function floorModule(): Uint8Array {
  const m = new ProxyModule([
    "proxy_get_header_map_pairs", "proxy_get_buffer_bytes", "proxy_replace_header_map_value",
    "proxy_define_metric", "proxy_increment_metric",
  ]);
  const requests = m.str(FLOOR_REQUESTS_METRIC);
  const tool = m.str(FLOOR_TOOL_METRIC);
  const audit = m.str(AUDIT_LINE);
  const methodKey = m.str("x-mcp-method");
  const methodValue = m.str("tools/call");
  const toolKey = m.str("x-mcp-tool");
  const toolValue = m.str("echo");
  const load = (at: number) => [...i32(at), ...op.load()];
  const ignore = (call: number[]) => [...call, ...op.drop];

  m.on("proxy_on_configure", 2, [
    ...ignore(m.call("proxy_define_metric", COUNTER, requests.ptr, requests.len, REQUESTS_ID)),
    ...ignore(m.call("proxy_define_metric", COUNTER, tool.ptr, tool.len, TOOL_ID)),
    ...i32(1),
  ]);
  // (context, headers, end_of_stream): hold the headers until the body is whole, as B does.
  m.on("proxy_on_request_headers", 3, [
    ...ignore(m.call("proxy_get_header_map_pairs", REQUEST_HEADERS, OUT_PTR, OUT_SIZE)),
    ...local(2), ...op.ifI32, ...i32(CONTINUE), ...op.else, ...i32(STOP), ...op.end,
  ]);
  // (context, body_size, end_of_stream): buffer until the end, then B's host calls.
  m.on("proxy_on_request_body", 3, [
    ...local(2), ...op.ifI32,
    ...ignore(m.call("proxy_get_buffer_bytes", REQUEST_BODY, 0, local(1), OUT_PTR, OUT_SIZE)),
    ...ignore(m.call("proxy_replace_header_map_value", REQUEST_HEADERS, methodKey.ptr, methodKey.len, methodValue.ptr, methodValue.len)),
    ...ignore(m.call("proxy_replace_header_map_value", REQUEST_HEADERS, toolKey.ptr, toolKey.len, toolValue.ptr, toolValue.len)),
    ...ignore(m.call("proxy_increment_metric", load(REQUESTS_ID), i64(1n))),
    ...ignore(m.call("proxy_increment_metric", load(TOOL_ID), i64(1n))),
    ...ignore(m.call("proxy_log", LOG_INFO, audit.ptr, audit.len)),
    ...i32(CONTINUE),
    ...op.else, ...i32(STOP), ...op.end,
  ]);
  m.on("proxy_on_request_trailers", 2, i32(CONTINUE));
  m.on("proxy_on_response_headers", 3, i32(CONTINUE));
  m.on("proxy_on_response_body", 3, i32(CONTINUE));
  m.on("proxy_on_response_trailers", 2, i32(CONTINUE));
  m.on("proxy_on_delete", 1, [], false);
  m.b.func(["i32"], ["i32"], scratchMallocBody(), "malloc");
  return m.build({ malloc: false });
}

/** malloc(size): grows memory until HEAP_START + size fits, then returns HEAP_START. Traps when
 *  memory cannot grow, as an allocator must not hand out memory it does not have. */
function scratchMallocBody(): number[] {
  const BLOCK = [0x02, 0x40], LOOP = [0x03, 0x40], BR_IF = 0x0d, BR = 0x0c;
  const MEMORY_SIZE = [0x3f, 0x00], MEMORY_GROW = [0x40, 0x00], SHL = 0x74, LE_U = 0x4d;
  return [
    ...BLOCK, ...LOOP,
    ...i32(HEAP_START), ...local(0), ...op.add, ...MEMORY_SIZE, ...i32(16), SHL, LE_U, BR_IF, 1,
    ...i32(1), ...MEMORY_GROW, ...i32(-1), ...op.eq, ...op.ifVoid, ...op.unreachable, ...op.end,
    BR, 0,
    ...op.end, ...op.end,
    ...i32(HEAP_START),
  ];
}

/** E: B's callbacks, each only continuing (the request's headers and body pass as they come). */
export function emptyModule(): Uint8Array {
  const m = new ProxyModule([]);
  for (const [name, params] of [["proxy_on_request_headers", 3], ["proxy_on_request_body", 3], ["proxy_on_request_trailers", 2],
    ["proxy_on_response_headers", 3], ["proxy_on_response_body", 3], ["proxy_on_response_trailers", 2]] as const) {
    m.on(name, params, i32(CONTINUE));
  }
  m.on("proxy_on_delete", 1, [], false);
  m.b.func(["i32"], ["i32"], scratchMallocBody(), "malloc");
  return m.build({ malloc: false });
}

/** Writes the floor module into dir; returns its path. */
export function writeFloorWasm(dir: string): string {
  const file = path.join(dir, "bench_floor.wasm");
  fs.writeFileSync(file, floorModule());
  return file;
}

/** Writes the empty module into dir; returns its path. */
export function writeEmptyWasm(dir: string): string {
  const file = path.join(dir, "bench_empty.wasm");
  fs.writeFileSync(file, emptyModule());
  return file;
}
