// The bench's second reference point: a proxy-wasm filter built like mcp_filter that makes
// the same host calls mcp_filter makes for the bench's tools/call, with the same callback
// results, and does no work of its own (no JSON, no policy, no audit formatting):
// - request headers: read the whole header map, stop (hold the headers for the body);
// - request body: buffer until the end, then read the body, set x-mcp-method and
//   x-mcp-tool, count two metrics, log one line, continue.
// A request through it is the least any filter doing mcp_filter's job costs in the emulator;
// bench.ts reports it next to JSON.parse.
export * from "./noop";
import { CONTINUE } from "./noop";
import { StaticBuffer, readBufferInto, readHeaderPairsInto } from "../../assembly/host";

// @ts-ignore: decorator
@external("env", "proxy_replace_header_map_value")
declare function proxy_replace_header_map_value(type: i32, key: usize, keySize: usize, value: usize, valueSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_define_metric")
declare function proxy_define_metric(type: i32, name: usize, nameSize: usize, id: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_increment_metric")
declare function proxy_increment_metric(id: u32, offset: i64): u32;
// @ts-ignore: decorator
@external("env", "proxy_log")
declare function proxy_log(level: i32, message: usize, size: usize): u32;

const STOP_ITERATION: u32 = 1;
const STOP_AND_BUFFER: u32 = 1;
const REQUEST_HEADERS: i32 = 0;
const REQUEST_BODY: i32 = 0;
const LOG_INFO: i32 = 2;

const metricId = memory.data(4);

// The values mcp_filter sets for the bench's tools/call, and an audit-sized log line.
const METHOD_NAME = String.UTF8.encode("x-mcp-method");
const METHOD = String.UTF8.encode("tools/call");
const TOOL_NAME = String.UTF8.encode("x-mcp-tool");
const TOOL = String.UTF8.encode("echo");
const LINE = String.UTF8.encode("{\"audit\":\"mcp\",\"session\":\"0b9c1a9e-3d7c-4a52-9a3e-2f1d3c4b5a69\",\"user\":\"user-1\",\"protocol\":\"2025-06-18\",\"method\":\"tools/call\",\"id\":42,\"tool\":\"echo\",\"decision\":\"allow\",\"rule\":\"default\",\"mode\":\"enforce\",\"forwarded\":true,\"bytes\":283}");

// Read as mcp_filter reads them: into static memory when they fit.
const headerBuffer = new StaticBuffer(memory.data(4096, 16), 4096);
const bodyBuffer = new StaticBuffer(memory.data(16384, 16), 16384);

let requests: u32 = 0;
let toolCalls: u32 = 0;

function counter(name: string): u32 {
  const enc = String.UTF8.encode(name);
  proxy_define_metric(0, changetype<usize>(enc), <usize>enc.byteLength, metricId);
  return load<u32>(metricId);
}

export function proxy_on_configure(_id: u32, _size: u32): u32 {
  requests = counter("floor.requests");
  toolCalls = counter("floor.tool_calls");
  return 1;
}

export function proxy_on_request_headers(_id: u32, _n: u32, _end: u32): u32 {
  readHeaderPairsInto(REQUEST_HEADERS, headerBuffer);
  return STOP_ITERATION;
}

export function proxy_on_request_body(_id: u32, size: u32, end: u32): u32 {
  if (end == 0) return STOP_AND_BUFFER;
  readBufferInto(REQUEST_BODY, size, bodyBuffer);
  const whole = bodyBuffer.len == <i32>size;
  bodyBuffer.drop();
  if (!whole) return CONTINUE;
  proxy_replace_header_map_value(REQUEST_HEADERS, changetype<usize>(METHOD_NAME), METHOD_NAME.byteLength, changetype<usize>(METHOD), METHOD.byteLength);
  proxy_replace_header_map_value(REQUEST_HEADERS, changetype<usize>(TOOL_NAME), TOOL_NAME.byteLength, changetype<usize>(TOOL), TOOL.byteLength);
  proxy_increment_metric(requests, 1);
  proxy_increment_metric(toolCalls, 1);
  proxy_log(LOG_INFO, changetype<usize>(LINE), LINE.byteLength);
  return CONTINUE;
}
