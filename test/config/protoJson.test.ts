// The validator that checks envoy.yaml must itself be able to fail: each case below breaks
// a valid config in one way and expects exactly that problem to be reported.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { BOOTSTRAP_TYPE, loadEnvoyApi, OVERLAY_FIELDS } from "./envoyProtos";
import { ProtoJsonValidator } from "./protoJson";

const ENVOY_YAML = path.resolve(__dirname, "..", "..", "envoy", "envoy.yaml");

// A fresh copy of envoy.yaml and handles on the parts the cases break.
function fixture() {
  const doc = parse(fs.readFileSync(ENVOY_YAML, "utf8"));
  const listener = doc.static_resources.listeners[0];
  const hcm = listener.filter_chains[0].filters[0].typed_config;
  const wasm = hcm.http_filters.find((f: { name: string }) => f.name === "envoy.filters.http.wasm").typed_config;
  return { doc, listener, hcm, wasm, cluster: doc.static_resources.clusters[0] };
}

function problems(doc: unknown): string[] {
  return new ProtoJsonValidator(loadEnvoyApi()).validate(BOOTSTRAP_TYPE, doc);
}

function assertOneProblem(doc: unknown, pattern: RegExp): void {
  const found = problems(doc);
  assert.strictEqual(found.length, 1, `expected one problem matching ${pattern}, got:\n${found.join("\n")}`);
  assert.match(found[0], pattern);
}

describe("Envoy proto validator", () => {
  it("accepts envoy.yaml unchanged (the baseline every case below breaks)", () => {
    assert.deepStrictEqual(problems(fixture().doc), []);
  });

  it("rejects an unknown field at the top level and inside a typed Any", () => {
    const a = fixture();
    a.listener.per_connection_buffer_limit = 1;
    assertOneProblem(a.doc, /listeners\[0\]\.per_connection_buffer_limit: unknown field of envoy\.config\.listener\.v3\.Listener/);
    const b = fixture();
    b.hcm.stream_idle_timeot = "5s";
    assertOneProblem(b.doc, /<HttpConnectionManager>\.stream_idle_timeot: unknown field/);
  });

  it("rejects an enum value the proto does not define", () => {
    const f = fixture();
    f.cluster.type = "STRICTDNS";
    assertOneProblem(f.doc, /clusters\[0\]\.type: string "STRICTDNS" is not a value of envoy\.config\.cluster\.v3\.Cluster\.DiscoveryType/);
  });

  it("rejects an undefined value of the overlaid failure_policy enum", () => {
    const f = fixture();
    f.wasm.config.failure_policy = "FAIL_SOMETIMES";
    assertOneProblem(f.doc, /failure_policy: string "FAIL_SOMETIMES" is not a value of envoy\.extensions\.wasm\.v3\.FailurePolicy/);
  });

  it("rejects wrong types: a string for a bool wrapper, a number for a duration, a list for a message", () => {
    const a = fixture();
    a.wasm.config.allow_on_headers_stop_iteration = "true";
    assertOneProblem(a.doc, /allow_on_headers_stop_iteration: expected bool, got string "true"/);
    const b = fixture();
    b.hcm.stream_idle_timeout = 3600;
    assertOneProblem(b.doc, /stream_idle_timeout: expected a duration/);
    const c = fixture();
    c.hcm.route_config = [];
    assertOneProblem(c.doc, /route_config: expected a mapping for envoy\.config\.route\.v3\.RouteConfiguration, got a list/);
  });

  it("rejects a negative number for an unsigned field", () => {
    const f = fixture();
    f.listener.per_connection_buffer_limit_bytes = -1;
    assertOneProblem(f.doc, /per_connection_buffer_limit_bytes: expected uint32/);
  });

  it("rejects an @type that names no loaded message, instead of skipping it", () => {
    const f = fixture();
    f.hcm.http_filters[1].typed_config["@type"] = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Routr";
    assertOneProblem(f.doc, /"@type" envoy\.extensions\.filters\.http\.router\.v3\.Routr is not a loaded message type/);
  });

  it("checks a wrapped StringValue inside an Any by its JSON form", () => {
    const f = fixture();
    f.wasm.config.configuration = { "@type": "type.googleapis.com/google.protobuf.StringValue", value: { a: 1 } };
    assertOneProblem(f.doc, /configuration\.value: expected string, got a mapping/);
  });

  it("rejects two members of one oneof and a missing required oneof", () => {
    const a = fixture();
    a.hcm.route_config.virtual_hosts[0].routes[0].match.prefix = "/";
    assertOneProblem(a.doc, /oneof path_specifier of envoy\.config\.route\.v3\.RouteMatch has several members/);
    const b = fixture();
    b.hcm.route_config.virtual_hosts[0].routes[0].match = {};
    assertOneProblem(b.doc, /RouteMatch needs one of prefix, path/);
  });

  it("rejects deprecated fields, which newer Envoys refuse", () => {
    const f = fixture();
    // mappers[0] passes the filter's own replies through; mappers[1] is Envoy's first status mapping.
    const mapper = f.hcm.local_reply_config.mappers[1].body_format_override;
    mapper.text_format = mapper.text_format_source.inline_string;
    delete mapper.text_format_source;
    assertOneProblem(f.doc, /body_format_override\.text_format: deprecated field/);
  });

  it("enforces protoc-gen-validate rules Envoy checks (min_len, message.required)", () => {
    const a = fixture();
    a.hcm.local_reply_config.mappers[1].filter.status_code_filter.comparison.value.runtime_key = "";
    assertOneProblem(a.doc, /runtime_key: must be at least 1 characters/);
    const b = fixture();
    delete b.hcm.local_reply_config.mappers[0].filter;
    assertOneProblem(b.doc, /mappers\[0\]\.filter: required by .*ResponseMapper/);
  });

  it("overlays only newer PluginConfig fields that envoy.yaml uses, each with number and release", () => {
    const used = Object.keys(fixture().wasm.config);
    for (const field of OVERLAY_FIELDS) {
      assert.ok(used.includes(field.name), `${field.name} is overlaid but envoy.yaml does not use it`);
      assert.match(field.addedIn, /^Envoy 1\.\d+ /);
    }
    assert.deepStrictEqual(
      OVERLAY_FIELDS.map((f) => [f.name, f.id]),
      [["failure_policy", 7], ["allow_on_headers_stop_iteration", 9]],
    );
    // reload_config (field 8) is newer too, but unused, so it stays unknown.
    const f = fixture();
    f.wasm.config.reload_config = {};
    assertOneProblem(f.doc, /config\.reload_config: unknown field of envoy\.extensions\.wasm\.v3\.PluginConfig/);
  });
});
