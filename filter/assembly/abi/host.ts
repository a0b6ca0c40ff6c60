// Host calls, and the @solo-io/proxy-runtime 0.1.8 workarounds they need.
// - Its header/metric helpers wrap host calls in CHECK_RESULT, which aborts (a VM trap)
//   on any non-Ok status; here every call returns its status instead.
// - It has no proxy_set_buffer_bytes binding; it is declared below.
// - Its RootContext.onConfigure passes the config size where a pointer belongs; the
//   filter reads the configuration itself (readConfiguration(size)).
// - Its get_metric calls proxy_record_metric; the filter defines, increments and records
//   through its own bindings below, and never reads a metric.
// - Its send_local_response copies the body and serializes headers on every call; local
//   replies here all add the same one header, serialized once (localReply).
// Every import used here is registered by Envoy for ABI 0.2.0 (see wasm-abi-check).
import { get_buffer_bytes } from "@solo-io/proxy-runtime/runtime";
import { Bytes } from "./bytes";
import { StaticBuffer, outPtr, outSize } from "./memory";

// @ts-ignore: decorator
@external("env", "proxy_send_local_response")
declare function proxy_send_local_response(status: u32, details: usize, detailsSize: usize, body: usize, bodySize: usize,
  headers: usize, headersSize: usize, grpcStatus: i32): u32;
const NO_GRPC_STATUS: i32 = -1; // an HTTP reply, not a gRPC one
// @ts-ignore: decorator
@external("env", "proxy_set_buffer_bytes")
declare function proxy_set_buffer_bytes(type: i32, start: u32, length: u32, data: usize, size: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_buffer_bytes")
declare function proxy_get_buffer_bytes(type: i32, start: u32, length: u32, valuePtr: usize, valueSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_replace_header_map_value")
declare function proxy_replace_header_map_value(type: i32, key: usize, keySize: usize, value: usize, valueSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_remove_header_map_value")
declare function proxy_remove_header_map_value(type: i32, key: usize, keySize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_define_metric")
declare function proxy_define_metric(type: i32, name: usize, nameSize: usize, id: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_increment_metric")
declare function proxy_increment_metric(id: u32, offset: i64): u32;
// @ts-ignore: decorator
@external("env", "proxy_record_metric")
declare function proxy_record_metric(id: u32, value: u64): u32;
// @ts-ignore: decorator
@external("env", "proxy_log")
declare function proxy_log(level: i32, message: usize, size: usize): u32;

const OK: u32 = 0;
const REQUEST_BODY: i32 = 0;
const RESPONSE_BODY: i32 = 1;
const PLUGIN_CONFIGURATION: i32 = 7;

/** Sets a header of map `map` (REQUEST_HEADERS, RESPONSE_HEADERS) to `value`. */
export function setHeader(map: i32, name: Bytes, value: Bytes): u32 {
  return proxy_replace_header_map_value(map, name.ptr, <usize>name.len, value.ptr, <usize>value.len);
}

/** A byte a header value must not carry: a control character other than tab. */
@inline function headerControl(c: i32): bool { return (c < 0x20 && c != 0x09) || c == 0x7f; }

// A header value with control characters in it, which become `?`.
const cleanValue = new Bytes(64);

/**
 * Sets header `name` of `map` to the `n` bytes at `value` (a span), its control characters
 * (other than tab) as `?`: a header value must not carry them. Spans cost no reference counting.
 */
export function setHeaderValue(map: i32, name: Bytes, value: usize, n: i32): u32 {
  let clean = true;
  for (let i = 0; i < n; i++) {
    if (headerControl(<i32>load<u8>(value + <usize>i))) { clean = false; break; }
  }
  if (clean) return proxy_replace_header_map_value(map, name.ptr, <usize>name.len, value, <usize>n);
  cleanValue.reset();
  for (let i = 0; i < n; i++) {
    const c = <i32>load<u8>(value + <usize>i);
    cleanValue.byte(headerControl(c) ? 0x3f : c);
  }
  return proxy_replace_header_map_value(map, name.ptr, <usize>name.len, cleanValue.ptr, <usize>cleanValue.len);
}

export function removeHeader(map: i32, name: Bytes): u32 {
  return proxy_remove_header_map_value(map, name.ptr, <usize>name.len);
}

/** The plugin configuration (`size` bytes), in a Bytes of its own. */
export function readConfiguration(size: usize): Bytes {
  return Bytes.wrap(get_buffer_bytes(PLUGIN_CONFIGURATION, 0, <u32>size));
}

/** The whole buffered response body (`size` bytes), in a Bytes of its own. */
export function readResponseBody(size: usize): Bytes {
  return Bytes.wrap(get_buffer_bytes(RESPONSE_BODY, 0, <u32>size));
}

/** Replaces the whole buffered response body (`currentSize` bytes) with `data`. */
export function replaceResponseBody(currentSize: usize, data: Bytes): u32 {
  return proxy_set_buffer_bytes(RESPONSE_BODY, 0, <u32>currentSize, data.ptr, <usize>data.len);
}

// Request bodies up to this size are read into static memory, valid during the body callback.
const REQUEST_BODY_STATIC: i32 = 16384;
/** The request body after readRequestBody(): `len` bytes at `ptr`; drop() it once judged. */
export const requestBody = new StaticBuffer(memory.data(REQUEST_BODY_STATIC, 16), REQUEST_BODY_STATIC);

/** Reads the whole request body (`size` bytes) into requestBody (none when the host refused). */
export function readRequestBody(size: usize): void {
  requestBody.arm();
  requestBody.took(proxy_get_buffer_bytes(REQUEST_BODY, 0, <u32>size, outPtr, outSize));
}

/** The header every local reply adds, in the pairs format: content-type: application/json. */
const JSON_REPLY_HEADERS = jsonReplyHeaders();

function jsonReplyHeaders(): Bytes {
  const key = "content-type";
  const value = "application/json";
  const out = new Bytes(12 + key.length + value.length + 2);
  out.u32(1);
  out.u32(key.length);
  out.u32(value.length);
  out.str(key); out.byte(0);
  out.str(value); out.byte(0);
  return out;
}

/** Answers the request with `body` as JSON (Envoy sends it once the callback returns). */
export function localReply(status: u32, details: string, body: Bytes): u32 {
  const d = String.UTF8.encode(details);
  return proxy_send_local_response(status, changetype<usize>(d), d.byteLength, body.ptr, body.len,
    JSON_REPLY_HEADERS.ptr, JSON_REPLY_HEADERS.len, NO_GRPC_STATUS);
}

const METRIC_COUNTER: i32 = 0;
const METRIC_GAUGE: i32 = 1;
const metricId = memory.data(4);

/** Defines a metric of `type`; returns its id, or -1 if the host refused it. */
function defineMetric(type: i32, name: string): i64 {
  const enc = String.UTF8.encode(name);
  if (proxy_define_metric(type, changetype<usize>(enc), <usize>enc.byteLength, metricId) != OK) return -1;
  return <i64>load<u32>(metricId);
}

export function defineCounter(name: string): i64 { return defineMetric(METRIC_COUNTER, name); }

export function incrementCounter(id: i64, by: i64 = 1): void {
  if (id >= 0 && by > 0) proxy_increment_metric(<u32>id, by);
}

// The VM's linear memory, which Envoy does not report. It belongs to the VM, not to a root
// context: one gauge id and one last value for the module. Every worker's VM sets the same stat
// (the vm_id is shared, and a VM cannot tell which worker runs it), so Envoy shows the value
// of the VM that set it last (filter/README.md).
let vmMemoryGauge: i64 = -1;
let vmMemoryPages: i32 = -1;

/** Defines the gauge recordVmMemory() sets, named `name`, and sets it. */
export function defineVmMemoryGauge(name: string): void {
  vmMemoryGauge = defineMetric(METRIC_GAUGE, name);
  vmMemoryPages = -1; // a new id: record it afresh
  recordVmMemory();
}

/**
 * Sets the VM memory gauge if the memory grew since it was last set: a memory.size and a
 * compare otherwise, cheap enough for the end of every stream. Linear memory never shrinks.
 * Envoy's record_metric sets a gauge, where it adds to a counter.
 */
export function recordVmMemory(): void {
  const pages = memory.size();
  if (pages == vmMemoryPages) return;
  vmMemoryPages = pages;
  if (vmMemoryGauge >= 0) proxy_record_metric(<u32>vmMemoryGauge, <u64>pages << 16);
}

const LOG_INFO: i32 = 2;
const LOG_CRITICAL: i32 = 5;

/** Logs `line` at info level. */
export function logInfo(line: Bytes): void { proxy_log(LOG_INFO, line.ptr, <usize>line.len); }

export function logCritical(text: string): void {
  const enc = String.UTF8.encode(text);
  proxy_log(LOG_CRITICAL, changetype<usize>(enc), <usize>enc.byteLength);
}
