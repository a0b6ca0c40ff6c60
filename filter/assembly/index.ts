// Entry point: the proxy-wasm ABI exports and the root context registered as "mcp_filter".
export * from "@solo-io/proxy-runtime/proxy";
import { RootContext, Context, registerRootContext, log, LogLevelValues } from "@solo-io/proxy-runtime";
import { parseConfig, configError } from "./config";
import { Metrics } from "./metrics";
import { McpStream, Shared } from "./stream";
import { readBuffer, logCritical, PLUGIN_CONFIGURATION } from "./host";

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
    return true;
  }

  createContext(id: u32): Context {
    return new McpStream(id, this, this.shared as Shared);
  }
}

registerRootContext((id: u32): RootContext => new McpRoot(id), "mcp_filter");
