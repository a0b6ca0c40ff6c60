// envoy/envoy.yaml is complete on its own, with the default policy as the wasm plugin's
// configuration and no gateway key (so it refuses every request). The stack uploads it with
// that string replaced by the `policy` config value and the stack's gateway key added. This
// module is the one place that knows where those sit, for infra, the gateway and the tests.
import { parseDocument } from "yaml";

const HCM_TYPE =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const WASM_FILTER = "envoy.filters.http.wasm";
const KEY_FILTER = "envoy.filters.http.api_key_auth";
export const ROOT_ID = "mcp_filter";
/** The client name the gateway key is filed under (api_key_auth's credentials[].client). */
export const KEY_CLIENT = "librechat";

type Path = (string | number)[];

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** YAML path of the StringValue that carries the mcp_filter plugin configuration. */
export function pluginConfigurationPath(bootstrap: unknown): Path {
  const found: Path[] = [];
  const listeners = asList(asRecord(asRecord(bootstrap).static_resources).listeners);
  listeners.forEach((listener, li) => {
    asList(asRecord(listener).filter_chains).forEach((chain, ci) => {
      asList(asRecord(chain).filters).forEach((filter, fi) => {
        const hcm = asRecord(asRecord(filter).typed_config);
        if (hcm["@type"] !== HCM_TYPE) return;
        asList(hcm.http_filters).forEach((httpFilter, hi) => {
          const f = asRecord(httpFilter);
          const config = asRecord(asRecord(f.typed_config).config);
          if (f.name !== WASM_FILTER || config.root_id !== ROOT_ID) return;
          found.push([
            "static_resources", "listeners", li, "filter_chains", ci, "filters", fi,
            "typed_config", "http_filters", hi, "typed_config", "config", "configuration", "value",
          ]);
        });
      });
    });
  });
  if (found.length !== 1) {
    throw new Error(`envoy.yaml must have exactly one ${WASM_FILTER} with root_id ${ROOT_ID}; found ${found.length}`);
  }
  return found[0];
}

/** The plugin configuration string (the policy JSON) exactly as envoy.yaml gives it to the filter. */
export function pluginConfigurationOf(envoyYaml: string): string {
  const doc = parseDocument(envoyYaml);
  const value = doc.getIn(pluginConfigurationPath(doc.toJS()));
  if (typeof value !== "string") throw new Error("the mcp_filter configuration in envoy.yaml is not a string");
  return value;
}

/** YAML path of api_key_auth's config in the HCM that runs the mcp_filter. */
function keyFilterPath(bootstrap: unknown): Path {
  const configPath = pluginConfigurationPath(bootstrap);
  const httpFilters = configPath.slice(0, configPath.indexOf("http_filters") + 1);
  let node: unknown = bootstrap;
  for (const key of httpFilters) node = (node as Record<string | number, unknown>)[key];
  const at = asList(node).findIndex((f) => asRecord(f).name === KEY_FILTER);
  if (at < 0 || at > (configPath[httpFilters.length] as number)) {
    throw new Error(`envoy.yaml must run ${KEY_FILTER} before the ${WASM_FILTER} with root_id ${ROOT_ID}`);
  }
  return [...httpFilters, at, "typed_config"];
}

/** The header the gateway key travels in (api_key_auth's one key source). */
export function gatewayKeyHeader(envoyYaml: string): string {
  const bootstrap = parseDocument(envoyYaml).toJS();
  let node: unknown = bootstrap;
  for (const key of keyFilterPath(bootstrap)) node = (node as Record<string | number, unknown>)[key];
  const sources = asList(asRecord(node).key_sources);
  const header = asRecord(sources[0]).header;
  if (sources.length !== 1 || typeof header !== "string") throw new Error(`${KEY_FILTER} in envoy.yaml must read exactly one header`);
  return header;
}

/**
 * envoy.yaml with the mcp_filter policy replaced and the gateway key as api_key_auth's one
 * credential; comments and everything else kept. A string policy is taken as the exact plugin
 * configuration text, as a playground's policy file is. The result holds the key: keep it secret.
 */
export function renderEnvoyConfig(envoyYaml: string, policy: Record<string, unknown> | string, gatewayKey: string): string {
  // api_key_auth compares the header value as sent; a key with spaces or control characters
  // could never be sent intact.
  if (!/^[\x21-\x7e]{16,}$/.test(gatewayKey)) throw new Error("the gateway key must be at least 16 printable ASCII characters, without spaces");
  const doc = parseDocument(envoyYaml);
  if (doc.errors.length > 0) throw new Error(`envoy.yaml does not parse: ${doc.errors[0].message}`);
  const bootstrap = doc.toJS();
  doc.setIn(pluginConfigurationPath(bootstrap), typeof policy === "string" ? policy : JSON.stringify(policy));
  doc.setIn([...keyFilterPath(bootstrap), "credentials"], doc.createNode([{ key: gatewayKey, client: KEY_CLIENT }]));
  // Keep envoy.yaml's layout (unindented lists) and never fold the one-line policy JSON.
  return doc.toString({ indentSeq: false, lineWidth: 0 });
}

/** The cluster the MCP route sends to: the MCP server. */
/** How often Envoy writes out its buffered logs, in ms: its default is 10 s. */
export const ENVOY_LOG_FLUSH_MS = 1000;

/**
 * Envoy's command-line flags for its logs, as the stack runs it. By default Envoy writes each log
 * line, the filter's audit line among them, to stderr at once: a write system call per request.
 * With --log-path its log goes through the same buffered writer as the access log, written out
 * every `flushMs` (or sooner when 64 KiB are waiting), so that cost is shared by every request in
 * the interval. The price: a line reaches `docker logs` up to `flushMs` late, and the lines of the
 * last interval are lost if Envoy crashes. Lines Envoy writes before it opens `logPath` (a
 * command-line error) still go to stderr.
 */
export function envoyLogFlags(logPath: string, flushMs = ENVOY_LOG_FLUSH_MS): string[] {
  return ["--log-path", logPath, "--file-flush-interval-msec", String(flushMs)];
}

export const MCP_CLUSTER = "mcp_server";
/** The listener that serves the admin's /stats/prometheus and /ready, and the cluster it uses. */
export const METRICS_LISTENER = "metrics_listener";
export const ADMIN_CLUSTER = "envoy_admin";

export interface HostPort { host: string; port: number }

/** What differs when the rendered envoy.yaml runs on this machine instead of in the stack's
 *  container: where the wasm file is, and the addresses. Everything else stays as rendered. */
export interface LocalRun {
  /** The built filter on this machine (the container has it at /etc/envoy/mcp_filter.wasm). */
  wasmPath: string;
  /** The MCP listener's address (the container's is 0.0.0.0:10000); port 0 picks a free one. */
  listen?: HostPort;
  /** The metrics listener's address (the container's is 0.0.0.0:9902). Default, when `listen`
   *  is given: 127.0.0.1 on a free port, so that local Envoys never collide on it. */
  metrics?: HostPort;
  /** The MCP server (the container's is mcp-server:3001). */
  upstream?: HostPort;
  /** Envoy's admin interface, and the cluster the metrics listener reaches it by. Port 0 picks a
   *  free one, which the metrics listener cannot know: give a port when it must work. */
  admin?: HostPort;
}

const socketAddress = (to: HostPort) => ({ address: to.host, port_value: to.port });

/**
 * The stack's rendered envoy.yaml made runnable here: only the wasm path and the addresses
 * change. The tests, `npm run gateway -- --engine envoy` and the benchmark all go through this
 * one function, so what they run is what `pulumi up` deploys.
 */
export function localEnvoyConfig(renderedYaml: string, local: LocalRun): string {
  const doc = parseDocument(renderedYaml);
  if (doc.errors.length > 0) throw new Error(`envoy.yaml does not parse: ${doc.errors[0].message}`);
  const bootstrap = doc.toJS();
  const configPath = pluginConfigurationPath(bootstrap);
  // configuration.value -> config.vm_config.code.local.filename
  const wasmFilenamePath = [...configPath.slice(0, -2), "vm_config", "code", "local", "filename"];
  if (typeof doc.getIn(wasmFilenamePath) !== "string") throw new Error("the mcp_filter in envoy.yaml loads no local wasm file");
  doc.setIn(wasmFilenamePath, local.wasmPath);
  if (local.listen) {
    // static_resources.listeners.<i>: the listener that runs the filter.
    doc.setIn([...configPath.slice(0, 3), "address", "socket_address"], doc.createNode(socketAddress(local.listen)));
  }
  const metrics = local.metrics ?? (local.listen ? { host: "127.0.0.1", port: 0 } : undefined);
  if (metrics) {
    const li = indexByName(asRecord(bootstrap).static_resources, "listeners", METRICS_LISTENER);
    doc.setIn(["static_resources", "listeners", li, "address", "socket_address"], doc.createNode(socketAddress(metrics)));
  }
  const pointCluster = (name: string, to: HostPort) => {
    const ci = indexByName(asRecord(bootstrap).static_resources, "clusters", name);
    const endpoint = { address: { socket_address: socketAddress(to) } };
    doc.setIn(["static_resources", "clusters", ci, "load_assignment", "endpoints"], doc.createNode([{ lb_endpoints: [{ endpoint }] }]));
  };
  if (local.upstream) pointCluster(MCP_CLUSTER, local.upstream);
  if (local.admin) {
    doc.setIn(["admin", "address", "socket_address"], doc.createNode(socketAddress(local.admin)));
    pointCluster(ADMIN_CLUSTER, local.admin);
  }
  return doc.toString({ indentSeq: false, lineWidth: 0 });
}

function indexByName(staticResources: unknown, kind: "listeners" | "clusters", name: string): number {
  const i = asList(asRecord(staticResources)[kind]).findIndex((x) => asRecord(x).name === name);
  if (i < 0) throw new Error(`envoy.yaml has no ${kind.slice(0, -1)} ${name}`);
  return i;
}
