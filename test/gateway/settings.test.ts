// The emulator gateway takes its Envoy facts from envoy.yaml as rendered for the envoy engine,
// and refuses a setting it does not model rather than behaving as another Envoy would.
import * as assert from "node:assert/strict";
import { readGatewaySettings, renderGatewayYaml } from "../../filter/gateway-settings";
import { POLICY, mappedBody } from "./helpers";
import { GATEWAY_KEY } from "../envoy/stack";

const RENDERED = renderGatewayYaml(JSON.stringify(POLICY), GATEWAY_KEY);

describe("gateway: the Envoy facts the emulator reads from envoy.yaml", () => {
  const settings = readGatewaySettings(RENDERED);

  it("reads the route, path handling, limits and the wasm plugin's settings", () => {
    assert.deepEqual(settings.route, { kind: "path_separated_prefix", value: "/mcp" });
    assert.deepEqual([settings.normalizePath, settings.mergeSlashes, settings.escapedSlashes], [true, true, "REJECT_REQUEST"]);
    assert.deepEqual([settings.bufferLimitBytes, settings.maxRequestHeaders, settings.maxRequestHeadersBytes], [2 * 1024 * 1024, 100, 60 * 1024]);
    assert.deepEqual([settings.rootId, settings.allowOnHeadersStopIteration, settings.failurePolicy], ["mcp_filter", true, "FAIL_CLOSED"]);
    assert.deepEqual([settings.serverName, settings.delayedCloseMs], ["envoy", 1000]);
  });

  it("maps Envoy's own replies to envoy.yaml's JSON-RPC bodies and leaves the filter's replies alone", () => {
    const envoy404 = settings.mapLocalReply({ status: 404, details: "route_not_found", body: Buffer.alloc(0) });
    assert.deepEqual([envoy404.status, envoy404.body.toString(), envoy404.contentType], [404, mappedBody(404), "application/json"]);
    const filter400 = settings.mapLocalReply({ status: 400, details: "mcp_filter_parse_error", body: Buffer.from("{}") });
    assert.deepEqual([filter400.status, filter400.body.toString(), filter400.contentType], [400, "{}", "text/plain"]);
    const unmapped = settings.mapLocalReply({ status: 426, details: "x", body: Buffer.from("Upgrade Required") });
    assert.equal(unmapped.body.toString(), "Upgrade Required");
  });

  // Variants of the rendered file, each with one setting the emulator does not model.
  const variants: Array<[string, (yaml: string) => string, RegExp]> = [
    ["a route timeout", (y) => y.replace(/(\n\s+)timeout: 0s/, "$1timeout: 15s"), /the route sets timeout 15s/],
    ["use_remote_address", (y) => y.replace("stat_prefix: mcp", "stat_prefix: mcp\n          use_remote_address: true"), /sets use_remote_address/],
    ["another HTTP filter", (y) => y.replace("- name: envoy.filters.http.router", "- name: envoy.filters.http.buffer\n          - name: envoy.filters.http.router"), /http_filters sets/],
    ["another CEL expression", (y) => y.replace("response.code_details.startsWith('mcp_filter_')", "response.code == 400"), /the CEL expression/],
    ["a format command", (y) => y.replace('"Not found: the MCP endpoint is /mcp."', '"%RESPONSE_CODE%"'), /format commands/],
    ["an escaped-slash action", (y) => y.replace("REJECT_REQUEST", "UNESCAPE_AND_REDIRECT"), /path_with_escaped_slashes_action UNESCAPE_AND_REDIRECT/],
  ];
  for (const [what, edit, reason] of variants) {
    it(`refuses ${what}, saying what to do`, () => {
      const yaml = edit(RENDERED);
      assert.notEqual(yaml, RENDERED, "the variant changed nothing: envoy.yaml no longer has what it edits");
      assert.throws(() => readGatewaySettings(yaml), (err: Error) => reason.test(err.message) && /extend filter\/gateway-settings\.ts/.test(err.message));
    });
  }
});
