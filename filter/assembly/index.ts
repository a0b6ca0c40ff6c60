// Entry point: the proxy-wasm ABI exports and the root context registered as "mcp_filter".
// proxy-runtime's exports serve the root context; the stream callbacks come from abi/. The
// callbacks for what the filter never starts (timers, queues, HTTP and gRPC calls, foreign
// functions, metadata) are not exported: Envoy calls only the callbacks a module exports.
// Nor is proxy_on_log: the filter writes its audit lines as it judges, not at access-log time.
export {
  malloc, free, proxy_abi_version_0_2_0, proxy_on_vm_start, proxy_validate_configuration, proxy_on_configure,
} from "./abi";
import {
  Bytes, Streams, readConfiguration, logCritical, localReply, recordVmMemory,
  RootContext, Context, registerRootContext, log, LogLevelValues,
} from "./abi";
import { Config, parseConfig } from "./config";
import { Metrics } from "./metrics";
import { McpStream } from "./stream";
import { Shared, SharedRoot } from "./shared";
import { errorObject, text } from "./reply";

class McpRoot extends SharedRoot {
  metrics: Metrics = new Metrics();

  // proxy-runtime's onConfigure misreads the configuration (see abi/host.ts); read it here.
  onConfigure(size: u32): bool {
    const cfg = new Config();
    const error = parseConfig(readConfiguration(size), cfg);
    if (error.length > 0) {
      this.metrics.count(this.metrics.configErrors);
      logCritical("mcp_filter: invalid configuration: " + error + "; the filter refuses to start");
      return false;
    }
    const names: string[] = [];
    for (let i = 0; i < cfg.policy.rules.length; i++) names.push(cfg.policy.rules.at(i).name);
    const limitNames: string[] = [];
    for (let i = 0; i < cfg.limits.length; i++) limitNames.push(cfg.limits.at(i).name);
    this.metrics.define(names, limitNames);
    this.shared = new Shared(cfg, this.metrics);
    let summary = "mcp_filter: configured: " + names.length.toString() + " rules, " + limitNames.length.toString() + " limits, default ";
    if (cfg.policy.defaultAllow) summary += "allow"; else summary += "deny";
    if (cfg.monitor) summary += ", mode monitor"; else summary += ", mode enforce";
    log(LogLevelValues.info, summary);
    recordVmMemory(); // the configuration's share, before any request
    return true;
  }

  serves(): bool { return this.shared !== null; }

  newStream(id: u32): McpStream { return new McpStream(id, this, this.shared as Shared); }

  createContext(id: u32): Context { return this.newStream(id); }
}

/** A stream without a configured root must not pass unjudged. */
function refuseUnconfigured(): u32 {
  const body = new Bytes(128);
  errorObject(body, null, -32603, text("The MCP policy filter is not configured"));
  localReply(503, "mcp_filter_not_configured", body);
  return 1;
}

// The streams of every root; the VM runs one callback at a time.
const streams = new Streams<McpRoot, McpStream>(refuseUnconfigured);

export function proxy_on_context_create(id: u32, rootId: u32): void { streams.contextCreate(id, rootId); }
export function proxy_on_request_headers(id: u32, headers: u32, endOfStream: u32): u32 { return streams.requestHeaders(id, headers, endOfStream); }
export function proxy_on_request_body(id: u32, size: u32, endOfStream: u32): u32 { return streams.requestBody(id, size, endOfStream); }
export function proxy_on_request_trailers(id: u32, trailers: u32): u32 { return streams.requestTrailers(id, trailers); }
export function proxy_on_response_headers(id: u32, headers: u32, endOfStream: u32): u32 { return streams.responseHeaders(id, headers, endOfStream); }
export function proxy_on_response_body(id: u32, size: u32, endOfStream: u32): u32 { return streams.responseBody(id, size, endOfStream); }
export function proxy_on_response_trailers(id: u32, trailers: u32): u32 { return streams.responseTrailers(id, trailers); }
export function proxy_on_done(id: u32): u32 { return streams.done(id); }
export function proxy_on_delete(id: u32): void { streams.delete(id); }

registerRootContext((id: u32): RootContext => new McpRoot(id), "mcp_filter");
