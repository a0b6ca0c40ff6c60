// The bottom layer: everything unsafe in the filter lives in this folder, as in the proxy-wasm
// Rust and Go SDKs (hostcalls, dispatcher, allocator). Raw loads and stores, pointer casts,
// static memory and references counted by hand appear here and nowhere else
// (test/filter/layering.test.ts). The rest of filter/assembly uses this API with ordinary
// AssemblyScript types:
//
// - Bytes (bytes.ts): the byte buffer. It grows on every write, and each write makes room for
//   its own worst case (JSON escaping, UTF-8 repair, a field cut at 4 KB), so no caller computes
//   a size. Reads go through at(i), which is 0 outside the content.
// - Spans: a position (usize) and a length that this layer handed out (Bytes#ptr, Scanner
//   positions, header values, requestBody). Code above may keep a span and pass it back to this
//   layer (Bytes#raw, Bytes#jsonFrom, equalsAt, setHeaderSpan); it never reads or writes
//   through one. Spans cost no reference counting, which AssemblyScript 0.17 does on every
//   reference-typed argument and local, so the per-request path passes them.
// - Scanner (json.ts): JSON as JSON.parse reads it, with a cursor and no values built.
// - Header maps (headers.ts): requestHeaders and responseHeaders, read whole in one host call
//   and looked up by a HeaderNames table built once per configuration.
// - Host calls (host.ts): bodies, header changes, local replies, metrics, logs, the VM memory
//   gauge; the request body is read into static memory (requestBody).
// - The SDK (@solo-io/proxy-runtime): RootContext and Context, the callback status values,
//   log, and the root context's ABI exports; code above imports them from here.
// - Shared data (shared-data.ts): a rate limit's slots, read and written with compare-and-swap,
//   their byte layout kept here; and the host's clock.
// - Streams (streams.ts): the live streams, kept in a table of raw pointers and reused, so a
//   request allocates no stream state; the entry's stream callbacks call it.
//
// AssemblyScript 0.17 miscompiles some reference counting; the workarounds are here, with a
// comment where each is made. A move to a current AssemblyScript changes this folder only.
export { Bytes, RefList, ascii, equalsAt, sameBytes } from "./bytes";
export { Scanner, errorText, keyCode } from "./json";
export { HeaderNames, requestHeaders, responseHeaders, REQUEST_HEADERS, RESPONSE_HEADERS } from "./headers";
export {
  setHeader, setHeaderValue, removeHeader, readConfiguration, readResponseBody, replaceResponseBody,
  requestBody, readRequestBody, localReply, defineCounter, incrementCounter, defineVmMemoryGauge,
  recordVmMemory, logInfo, logCritical,
} from "./host";
export { malloc } from "./memory";
export { Streams } from "./streams";
// The SDK types and ABI exports the filter builds on, from @solo-io/proxy-runtime: only through here.
export {
  RootContext, Context, registerRootContext, log, LogLevelValues,
  FilterHeadersStatusValues, FilterDataStatusValues, FilterTrailersStatusValues,
} from "@solo-io/proxy-runtime";
export { free } from "@solo-io/proxy-runtime/malloc";
export {
  proxy_abi_version_0_2_0, proxy_on_vm_start, proxy_validate_configuration, proxy_on_configure,
} from "@solo-io/proxy-runtime/exports";
export { GlobProgram } from "./glob";
export {
  Slot, getSlot, setSlot, nowNanos, SHARED_OK, SHARED_NOT_FOUND, SHARED_CAS_MISMATCH, SHARED_FOREIGN,
} from "./shared-data";
