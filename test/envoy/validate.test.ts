// envoy.yaml exactly as `pulumi up` renders it, checked by the pinned Envoy itself
// (`envoy --mode validate` builds every filter and loads the wasm plugin into V8).
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { parse } from "yaml";
import { localEnvoyConfig, pluginConfigurationOf } from "../../infra/envoyConfig";
import { validateEnvoyConfig } from "../../envoy/run";
import { runStack } from "../infra/harness";

const WASM = path.join(__dirname, "..", "..", "filter", "build", "mcp_filter.wasm");

/** The envoy.yaml the mocked `pulumi up` uploads into the Envoy container. */
async function renderedByPulumi(config: Record<string, string> = {}): Promise<string> {
  const run = await runStack({ config });
  const upload = (run.get("gateway-container").inputs.uploads as Array<{ file: string; content?: string }>)
    .find((u) => u.file === "/etc/envoy/envoy.yaml");
  assert.ok(upload?.content, "the Envoy container gets an envoy.yaml");
  return upload.content;
}

const CUSTOM_POLICY = {
  defaultAction: "deny",
  userHeader: "x-user-id",
  hideDeniedTools: false,
  maxBodyBytes: 65536,
  mode: "monitor",
  denyResponse: "explain",
  rules: [
    { name: "everyone-reads", action: "allow", methods: ["tools/list", "initialize", "ping"] },
    { name: "alice-sums", action: "allow", tools: ["get-sum", "echo"], users: ["alice"] },
  ],
};

describe("envoy.yaml as pulumi up renders it, validated by Envoy", function () {
  let defaultYaml: string;
  let customYaml: string;

  before(async function () {
    defaultYaml = await renderedByPulumi();
    customYaml = await renderedByPulumi({ policy: JSON.stringify(CUSTOM_POLICY) });
  });

  for (const [name, yaml] of [["the default policy", () => defaultYaml], ["a non-default policy", () => customYaml]] as const) {
    it(`with ${name}: Envoy accepts it and the filter starts in V8`, async function () {
      const local = localEnvoyConfig(yaml(), { wasmPath: WASM });
      const result = await validateEnvoyConfig(local);
      assert.ok(result.ok, result.output);
      assert.match(result.output, /\[info\]\[wasm\] wasm log mcp_filter .*mcp_filter: configured: \d+ rules/);
      assert.doesNotMatch(result.output, /deprecated/i, "the configuration uses no deprecated field");
    });
  }

  it("the non-default policy is the one the filter gets", function () {
    assert.deepEqual(JSON.parse(pluginConfigurationOf(customYaml)), CUSTOM_POLICY);
  });

  it("a local run changes only the wasm path and the addresses, and still validates", async function () {
    const local = localEnvoyConfig(defaultYaml, {
      wasmPath: WASM, listen: { host: "127.0.0.1", port: 0 }, upstream: { host: "127.0.0.1", port: 3001 }, admin: { host: "127.0.0.1", port: 0 },
    });
    const strip = (doc: any) => {
      delete doc.admin.address;
      for (const l of doc.static_resources.listeners) delete l.address;
      for (const c of doc.static_resources.clusters) delete c.load_assignment;
      const filters = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters;
      delete filters.find((f: { name: string }) => f.name === "envoy.filters.http.wasm").typed_config.config.vm_config.code;
      return doc;
    };
    assert.deepEqual(strip(parse(local)), strip(parse(defaultYaml)));
    const result = await validateEnvoyConfig(local);
    assert.ok(result.ok, result.output);
  });

  describe("a broken configuration fails validation, with Envoy's reason", function () {
    const broken = (edit: (yaml: string) => string) => validateEnvoyConfig(localEnvoyConfig(edit(defaultYaml), { wasmPath: WASM }));
    const failsWith = async (edit: (yaml: string) => string, reason: RegExp) => {
      const result = await broken(edit);
      assert.equal(result.ok, false, "Envoy accepted a broken configuration");
      assert.match(result.output, reason);
    };

    it("an unknown field", async function () {
      await failsWith((y) => y.replace("stat_prefix: mcp", "stat_prefix: mcp\n          stream_idle_timeoutt: 5s"), /critical.*INVALID_ARGUMENT.*stream_idle_timeoutt/);
    });

    it("an enum value Envoy does not have", async function () {
      await failsWith((y) => y.replace("failure_policy: FAIL_CLOSED", "failure_policy: FAIL_SOMETIMES"), /critical.*unknown enum value: 'FAIL_SOMETIMES'/);
    });

    it("a wasm file that is missing", async function () {
      const result = await validateEnvoyConfig(localEnvoyConfig(defaultYaml, { wasmPath: "/nonexistent/mcp_filter.wasm" }));
      assert.equal(result.ok, false);
      assert.match(result.output, /critical.*Invalid path: \/nonexistent\/mcp_filter\.wasm/);
    });

    it("a policy the filter refuses: the filter names the field, and Envoy refuses the configuration", async function () {
      await failsWith((y) => y.replace('\\"defaultAction\\":\\"allow\\"', '\\"defaultAction\\":\\"maybe\\"').replace('"defaultAction":"allow"', '"defaultAction":"maybe"'),
        /\[critical\]\[wasm\] wasm log mcp_filter .*invalid configuration: defaultAction: [^\n]*\n[\s\S]*\[critical\]\[main\].*Unable to create Wasm plugin mcp_filter/);
    });
  });
});
