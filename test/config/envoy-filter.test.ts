// The plugin configuration envoy.yaml ships, loaded into the real filter build in the host
// emulator with the Envoy settings envoy.yaml itself declares.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { ProxyWasmHost } from "../../filter/host";
import { pluginConfigurationOf } from "../../infra/envoyConfig";
import { wasm, post, call, audits } from "../filter/helpers";

const ENVOY_YAML = fs.readFileSync(path.join(__dirname, "..", "..", "envoy", "envoy.yaml"), "utf8");

describe("envoy.yaml's plugin configuration in the real filter", () => {
  const bootstrap = parse(ENVOY_YAML);
  const hcm = bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const wasmConfig = hcm.http_filters.find((f: { name: string }) => f.name === "envoy.filters.http.wasm").typed_config.config;

  function host(): ProxyWasmHost {
    const h = ProxyWasmHost.load(wasm(), {
      pluginConfig: pluginConfigurationOf(ENVOY_YAML),
      rootId: wasmConfig.root_id,
      allowOnHeadersStopIteration: wasmConfig.allow_on_headers_stop_iteration,
      failurePolicy: wasmConfig.failure_policy,
    });
    assert.ok(h.start(), "the filter refused envoy.yaml's configuration: " + h.logs().map((l) => l.message).join("\n"));
    return h;
  }

  it("is accepted by the filter under envoy.yaml's root id", () => {
    assert.equal(wasmConfig.root_id, "mcp_filter");
    assert.equal(host().traps, 0);
  });

  it("denies get-env and gzip-* and allows echo, as the README promises", () => {
    const h = host();
    assert.equal(post(h, call("get-env")).json.error.message, "Unknown tool: get-env");
    assert.equal(post(h, call("gzip-file-as-resource")).forwarded, false);
    assert.equal(post(h, call("echo", 1, { message: "hi" })).forwarded, true);
    assert.equal(audits(h).filter((a) => a.decision === "deny").length, 2);
  });
});
