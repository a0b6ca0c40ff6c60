// envoy/envoy.yaml against the facts the rest of the stack relies on (Envoy itself validates it:
// test/envoy/validate.test.ts).
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { ALIASES, CONTAINER_PATHS, CONTAINER_PORTS } from "../../infra/config";
import { ADMIN_CLUSTER, MCP_CLUSTER, METRICS_LISTENER, pluginConfigurationOf, pluginConfigurationPath, renderEnvoyConfig, ROOT_ID } from "../../infra/envoyConfig";

const ROOT = path.resolve(__dirname, "..", "..");
const envoyYaml = fs.readFileSync(path.join(ROOT, "envoy", "envoy.yaml"), "utf8");
const bootstrap = parse(envoyYaml);
const listener = bootstrap.static_resources.listeners[0];
const hcm = listener.filter_chains[0].filters[0].typed_config;
const route = hcm.route_config.virtual_hosts[0].routes[0];
const cluster = bootstrap.static_resources.clusters.find((c: { name: string }) => c.name === MCP_CLUSTER);
const wasmFilter = hcm.http_filters.find((f: { name: string }) => f.name === "envoy.filters.http.wasm");

// The stack's default policy, as the issue specifies it.
const DEFAULT_POLICY = {
  defaultAction: "allow",
  userHeader: "x-user-id",
  hideDeniedTools: true,
  maxBodyBytes: 1048576,
  mode: "enforce",
  rules: [{ name: "deny-risky-tools", action: "deny", tools: ["get-env", "gzip-*"] }],
};

function seconds(duration: string): number {
  const m = /^(\d+)s$/.exec(duration);
  assert.ok(m, `${duration} is not a whole-second duration`);
  return Number(m[1]);
}

describe("envoy/envoy.yaml", () => {
  it("carries the default policy, equal to Pulumi.yaml's policy default", () => {
    const fromEnvoy = JSON.parse(pluginConfigurationOf(envoyYaml));
    const pulumiYaml = parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
    assert.deepStrictEqual(fromEnvoy, pulumiYaml.config.policy.default);
    assert.deepStrictEqual(fromEnvoy, DEFAULT_POLICY);
  });

  it("loads the filter from the uploaded wasm into V8 under root id mcp_filter, failing closed", () => {
    const config = wasmFilter.typed_config.config;
    assert.strictEqual(config.root_id, ROOT_ID);
    assert.strictEqual(config.vm_config.runtime, "envoy.wasm.runtime.v8");
    assert.strictEqual(config.vm_config.code.local.filename, CONTAINER_PATHS.wasm);
    assert.strictEqual(config.failure_policy, "FAIL_CLOSED");
    assert.strictEqual(config.allow_on_headers_stop_iteration, true);
  });

  it("checks the gateway key first, then runs the wasm filter, and the router last", () => {
    const names = hcm.http_filters.map((f: { name: string }) => f.name);
    assert.deepStrictEqual(names, ["envoy.filters.http.api_key_auth", "envoy.filters.http.wasm", "envoy.filters.http.router"]);
    const keyCheck = hcm.http_filters[0].typed_config;
    // As checked in, no key is valid: the file on its own refuses every request.
    assert.deepStrictEqual(keyCheck.credentials, []);
    assert.deepStrictEqual(keyCheck.key_sources, [{ header: "x-mcp-gateway-key" }]);
    assert.deepStrictEqual(keyCheck.forwarding, { hide_credentials: true }, "the MCP server never sees the key");
  });

  it("listens, administers and routes on the ports and names the stack uses", () => {
    assert.strictEqual(listener.address.socket_address.port_value, CONTAINER_PORTS.gateway);
    // The admin interface on the container's loopback only; the metrics listener reaches it there.
    assert.deepStrictEqual(bootstrap.admin.address.socket_address, { address: "127.0.0.1", port_value: CONTAINER_PORTS.envoyAdmin });
    const metrics = bootstrap.static_resources.listeners.find((l: { name: string }) => l.name === METRICS_LISTENER);
    assert.strictEqual(metrics.address.socket_address.port_value, CONTAINER_PORTS.envoyMetrics);
    const admin = bootstrap.static_resources.clusters.find((c: { name: string }) => c.name === ADMIN_CLUSTER);
    assert.deepStrictEqual(admin.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, bootstrap.admin.address.socket_address);
    assert.deepStrictEqual(route.match, { path_separated_prefix: "/mcp" });
    assert.strictEqual(route.route.cluster, cluster.name);
    const endpoint = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    assert.deepStrictEqual(endpoint, { address: ALIASES.mcpServer, port_value: CONTAINER_PORTS.mcpServer });
  });

  it("keeps SSE streams open: no route timeout, idle timeouts of at least an hour", () => {
    assert.strictEqual(route.route.timeout, "0s");
    assert.ok(seconds(route.route.idle_timeout) >= 3600);
    assert.ok(seconds(hcm.stream_idle_timeout) >= 3600);
  });

  it("buffers more than the policy's maxBodyBytes, so the filter answers oversized bodies first", () => {
    const limit = DEFAULT_POLICY.maxBodyBytes;
    assert.ok(listener.per_connection_buffer_limit_bytes > limit);
    assert.ok(cluster.per_connection_buffer_limit_bytes > limit);
  });

  it("turns each status Envoy generates into a JSON-RPC error body, and leaves 200 alone", () => {
    // The first mapper passes the filter's own replies through (test/config/local-reply.test.ts).
    const mappers = hcm.local_reply_config.mappers.slice(1) as {
      filter: { status_code_filter: { comparison: { op: string; value: { default_value: number } } } };
      body_format_override: { text_format_source: { inline_string: string }; content_type: string };
    }[];
    const statuses = mappers.map((m) => {
      assert.strictEqual(m.filter.status_code_filter.comparison.op, "EQ");
      return m.filter.status_code_filter.comparison.value.default_value;
    });
    assert.deepStrictEqual(statuses, [400, 401, 404, 408, 413, 431, 500, 502, 503, 504]);
    for (const m of mappers) {
      assert.strictEqual(m.body_format_override.content_type, "application/json");
      const body = JSON.parse(m.body_format_override.text_format_source.inline_string);
      assert.deepStrictEqual(Object.keys(body), ["jsonrpc", "id", "error"]);
      assert.strictEqual(body.jsonrpc, "2.0");
      assert.strictEqual(body.id, null);
      assert.ok(Number.isInteger(body.error.code) && body.error.code <= -32000, `code ${body.error.code}`);
      assert.ok(body.error.message.length > 0);
    }
    // A top-level body_format would rewrite the filter's own JSON-RPC replies too.
    assert.strictEqual(hcm.local_reply_config.body_format, undefined);
  });
});

describe("rendering envoy.yaml with a stack's policy", () => {
  const custom = { ...DEFAULT_POLICY, mode: "monitor", rules: [{ action: "deny", tools: ["echo"] }] };
  const rendered = renderEnvoyConfig(envoyYaml, custom, "0123456789abcdef0123456789abcdef");

  it("replaces the plugin configuration with the policy", () => {
    assert.deepStrictEqual(JSON.parse(pluginConfigurationOf(rendered)), custom);
  });

  it("changes nothing else (test/envoy/validate.test.ts has Envoy validate the result)", () => {
    const before = parse(envoyYaml);
    const after = parse(rendered);
    const at = pluginConfigurationPath(before);
    const clear = (doc: Record<string, unknown>) => {
      let node: any = doc;
      for (const key of at.slice(0, -1)) node = node[key];
      node[at[at.length - 1]] = "<policy>";
      (doc as any).static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.credentials = "<key>";
      return doc;
    };
    assert.deepStrictEqual(clear(after), clear(before));
  });

  it("refuses a config without exactly one mcp_filter", () => {
    const doc = parse(envoyYaml);
    const filters = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters;
    filters.splice(filters.findIndex((f: { name: string }) => f.name === "envoy.filters.http.wasm"), 1);
    assert.throws(() => pluginConfigurationPath(doc), /exactly one envoy\.filters\.http\.wasm with root_id mcp_filter; found 0/);
  });

  it("puts the gateway key in as the one credential, and refuses a key that could not be sent intact", () => {
    const filters = parse(rendered).static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters;
    assert.deepStrictEqual(filters[0].typed_config.credentials, [{ key: "0123456789abcdef0123456789abcdef", client: "librechat" }]);
    for (const bad of ["", "short", "has a space in it 123", "tab\there-0123456789"]) {
      assert.throws(() => renderEnvoyConfig(envoyYaml, custom, bad), /the gateway key must be at least 16 printable ASCII characters/);
    }
  });
});
