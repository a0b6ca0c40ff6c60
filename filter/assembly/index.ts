// Entry point: the proxy-wasm ABI exports and the root context registered as "mcp_filter".
// proxy-runtime's exports for the root context; the stream callbacks are defined below. The
// callbacks for what the filter never starts (timers, queues, HTTP and gRPC calls, foreign
// functions, metadata) are not exported: Envoy calls only the callbacks a module exports.
// Nor is proxy_on_log: the filter writes its audit lines as it judges, not at access-log time.
export { free } from "@solo-io/proxy-runtime/malloc";
export { malloc } from "./host";
export {
  proxy_abi_version_0_2_0, proxy_on_vm_start, proxy_validate_configuration, proxy_on_configure,
} from "@solo-io/proxy-runtime/exports";
import { RootContext, Context, registerRootContext, log, LogLevelValues } from "@solo-io/proxy-runtime";
import { ensureRootContext, getRootContext, getBaseContext, deleteContext } from "@solo-io/proxy-runtime/runtime";
import { parseConfig, configError } from "./config";
import { Metrics, recordVmMemory } from "./metrics";
import { McpStream, Shared } from "./stream";
import { StreamTable } from "./streams";
import { readBuffer, logCritical, localReply, PLUGIN_CONFIGURATION } from "./host";
import { Bytes } from "./bytes";
import { errorObject, text } from "./reply";

class McpRoot extends RootContext {
  shared: Shared | null = null;
  metrics: Metrics = new Metrics();

  // proxy-runtime's onConfigure misreads the configuration (see host.ts); read it here.
  onConfigure(size: u32): bool {
    const raw = readBuffer(PLUGIN_CONFIGURATION, size);
    const cfg = parseConfig(changetype<usize>(raw), raw.byteLength);
    if (cfg === null) {
      this.metrics.count(this.metrics.configErrors);
      logCritical("mcp_filter: invalid configuration: " + configError + "; the filter refuses to start");
      return false;
    }
    const names: string[] = [];
    for (let i = 0; i < cfg.policy.rules.length; i++) names.push(cfg.policy.rules[i].name);
    this.metrics.define(names);
    this.shared = new Shared(cfg, this.metrics);
    let summary = "mcp_filter: configured: " + names.length.toString() + " rules, default ";
    if (cfg.policy.defaultAllow) summary += "allow"; else summary += "deny";
    if (cfg.monitor) summary += ", mode monitor"; else summary += ", mode enforce";
    log(LogLevelValues.info, summary);
    recordVmMemory(); // the configuration's share, before any request
    return true;
  }

  createContext(id: u32): Context {
    return new McpStream(id, this, this.shared as Shared);
  }
}

// Stream contexts are dispatched here rather than by proxy-runtime's exports, which build
// debug log strings (including a join of every live context id) on every callback: O(live
// streams) work per request. The root context (vm start, configure) still goes through
// proxy-runtime.
const streams = new StreamTable();
// Root contexts proxy-runtime knows; any other id that is not a live stream is unknown to it
// (a stream of a root that refused its configuration), and its lookup would trap.
const roots: Array<i32> = [];
let lastRootId: u32 = 0;
let lastRoot: McpRoot | null = null;

export function proxy_on_context_create(id: u32, rootId: u32): void {
  if (rootId == 0) { ensureRootContext(id); roots.push(<i32>id); return; }
  // One root serves every stream; skip proxy-runtime's map lookup when it is the same one.
  if (rootId != lastRootId) { lastRoot = getRootContext(rootId) as McpRoot; lastRootId = rootId; }
  // Read through the global, not a local: AssemblyScript 0.17 reference-counts every local.
  if ((lastRoot as McpRoot).shared === null) return; // a root that refused its configuration serves no streams
  streams.open(id, changetype<usize>(lastRoot), changetype<usize>((lastRoot as McpRoot).shared));
}

export function proxy_on_request_headers(id: u32, headers: u32, endOfStream: u32): u32 {
  const s = streams.find(id);
  if (s == 0) return refuseUnconfigured();
  return changetype<McpStream>(s).onRequestHeaders(headers, endOfStream != 0);
}

export function proxy_on_request_body(id: u32, size: u32, endOfStream: u32): u32 {
  const s = streams.find(id);
  if (s == 0) return 0;
  return changetype<McpStream>(s).onRequestBody(size, endOfStream != 0);
}

export function proxy_on_request_trailers(id: u32, trailers: u32): u32 {
  const s = streams.find(id);
  if (s == 0) return 0;
  return changetype<McpStream>(s).onRequestTrailers(trailers);
}

export function proxy_on_response_headers(id: u32, headers: u32, endOfStream: u32): u32 {
  const s = streams.find(id);
  if (s == 0) return 0;
  return changetype<McpStream>(s).onResponseHeaders(headers, endOfStream != 0);
}

export function proxy_on_response_body(id: u32, size: u32, endOfStream: u32): u32 {
  const s = streams.find(id);
  if (s == 0) return 0;
  return changetype<McpStream>(s).onResponseBody(size, endOfStream != 0);
}

export function proxy_on_response_trailers(id: u32, trailers: u32): u32 {
  const s = streams.find(id);
  if (s == 0) return 0;
  return changetype<McpStream>(s).onResponseTrailers(trailers);
}

/** A stream without a configured root must not pass unjudged. */
function refuseUnconfigured(): u32 {
  const body = new Bytes(128);
  errorObject(body, null, -32603, text("The MCP policy filter is not configured"));
  localReply(503, "mcp_filter_not_configured", body);
  return 1;
}

export function proxy_on_done(id: u32): u32 {
  if (streams.find(id) != 0 || roots.indexOf(<i32>id) < 0) return 1;
  return getBaseContext(id).onDone() ? 1 : 0;
}

export function proxy_on_delete(id: u32): void {
  // At a stream's end its allocations are done: between requests the gauge holds the VM's size.
  if (streams.remove(id)) { recordVmMemory(); return; }
  const i = roots.indexOf(<i32>id);
  if (i < 0) return;
  roots.splice(i, 1);
  getBaseContext(id).onDelete();
  deleteContext(id);
}

registerRootContext((id: u32): RootContext => new McpRoot(id), "mcp_filter");
