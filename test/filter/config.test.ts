// A bad configuration refuses to start, with a critical log line naming the field.
import * as assert from "node:assert/strict";
import { ProxyWasmHost } from "../../filter/host";
import { wasm, startHost, post, call } from "./helpers";

function refuse(config: string): { started: boolean; critical: string[]; errors: number | undefined } {
  const host = ProxyWasmHost.load(wasm(), { pluginConfig: config, allowOnHeadersStopIteration: true });
  const started = host.start();
  // The filter's own lines; the host adds its "failed to load" line as Envoy does.
  const critical = host.logs("critical").map((l) => l.message).filter((m) => m.startsWith("mcp_filter:"));
  return { started, critical, errors: host.metric("mcp_filter.config_errors") };
}

describe("filter: configuration", () => {
  const bad: Array<[string, string, RegExp]> = [
    ["an empty configuration", "", /\(configuration\): empty/],
    ["a configuration that is not JSON", "{defaultAction: allow}", /\(json\): unexpected token at byte 1/],
    ["a configuration that is not an object", "[]", /\(configuration\): expected a JSON object/],
    ["a missing defaultAction", "{}", /defaultAction: required/],
    ["an unknown field", '{"defaultAction":"allow","hideDenied":true}', /hideDenied: unknown field/],
    ["a wrong defaultAction", '{"defaultAction":"permit"}', /defaultAction: expected "allow" or "deny", got "permit"/],
    ["a wrong type", '{"defaultAction":"allow","hideDeniedTools":"yes"}', /hideDeniedTools: expected true or false/],
    ["a zero maxBodyBytes", '{"defaultAction":"allow","maxBodyBytes":0}', /maxBodyBytes: expected an integer from 1 to 67108864, got 0/],
    ["a fractional maxBodyBytes", '{"defaultAction":"allow","maxBodyBytes":1.5}', /maxBodyBytes: expected an integer/],
    ["a zero maxBatchMessages", '{"defaultAction":"allow","maxBatchMessages":0}', /maxBatchMessages: expected an integer from 1 to 10000, got 0/],
    ["a maxBatchMessages over the limit", '{"defaultAction":"allow","maxBatchMessages":10001}', /maxBatchMessages: expected an integer from 1 to 10000, got 10001/],
    ["a wrong mode", '{"defaultAction":"allow","mode":"audit"}', /mode: expected "enforce" or "monitor"/],
    ["a bad header name", '{"defaultAction":"allow","userHeader":"x user"}', /userHeader: not a valid HTTP header name/],
    ["rules that are not a list", '{"defaultAction":"allow","rules":{}}', /rules: expected a list of rules/],
    ["a rule without action", '{"defaultAction":"allow","rules":[{"tools":["a"]}]}', /rules\[0\]\.action: required/],
    ["an unknown rule field", '{"defaultAction":"allow","rules":[{"action":"deny","tool":["a"]}]}', /rules\[0\]\.tool: unknown field/],
    ["a bad glob", '{"defaultAction":"allow","rules":[{"action":"deny","tools":["ok","get-[env]"]}]}', /rules\[0\]\.tools\[1\]: bad glob "get-\[env\]"/],
    ["a trailing backslash glob", '{"defaultAction":"allow","rules":[{"action":"deny","tools":["a\\\\"]}]}', /rules\[0\]\.tools\[0\]: bad glob .*lone backslash/],
    ["an empty glob list", '{"defaultAction":"allow","rules":[{"action":"deny","users":[]}]}', /rules\[0\]\.users: empty list/],
    ["a non-string glob", '{"defaultAction":"allow","rules":[{"action":"deny","tools":[1]}]}', /rules\[0\]\.tools\[0\]: expected a string/],
    ["a duplicate field", '{"defaultAction":"allow","defaultAction":"deny"}', /defaultAction: duplicate field/],
    ["a duplicate rule name", '{"defaultAction":"allow","rules":[{"name":"a","action":"deny"},{"name":"a","action":"allow"}]}', /rules\[1\]\.name: duplicate rule name "a"/],
    ["a rule name that reads as another in metric names", '{"defaultAction":"allow","rules":[{"name":"a_b","action":"deny"},{"name":"a-b","action":"deny"}]}', /rules\[1\]\.name: "a-b" clashes with "a_b" \(metrics read - and \. as _\)/],
    ["a rule named like the default action", '{"defaultAction":"allow","rules":[{"name":"default","action":"deny"}]}', /rules\[0\]\.name: "default" is reserved/],
    ["userHeader host, which Envoy shows only as :authority", '{"defaultAction":"allow","userHeader":"Host"}', /userHeader: "host" is :authority in Envoy/],
    ["a bad rule name", '{"defaultAction":"allow","rules":[{"name":"a b","action":"deny"}]}', /rules\[0\]\.name: use 1-64 characters/],
    ["trailing data", '{"defaultAction":"allow"} x', /\(json\): unexpected data after the JSON value/],
    // One log line: a decoded key's control characters show as ?.
    ["a key holding a newline", '{"defaultAction":"allow","x\\n[critical] y":1}', /x\?\[critical\] y: unknown field/],
    // A number too large to hold is shown as written, and a very long one cut with "…".
    ["a huge maxBodyBytes", '{"defaultAction":"allow","maxBodyBytes":123456789012345678901234567890}', /got 123456789012345678901234567890;/],
    ["a 40-digit maxBodyBytes", `{"defaultAction":"allow","maxBodyBytes":${"9".repeat(40)}}`, new RegExp(`got ${"9".repeat(32)}…;`)],
  ];
  for (const [what, config, field] of bad) {
    it(`refuses to start on ${what}, naming the field`, () => {
      const r = refuse(config);
      assert.equal(r.started, false);
      assert.equal(r.critical.length, 1, r.critical.join("\n"));
      assert.match(r.critical[0], /^mcp_filter: invalid configuration: /);
      assert.match(r.critical[0], field);
      assert.doesNotMatch(r.critical[0], /[\u0000-\u001f]/, "one line, no control characters");
      assert.equal(r.errors, 1);
    });
  }

  it("accepts the documented defaults with only defaultAction set", () => {
    const host = startHost({ defaultAction: "deny" });
    assert.equal(post(host, call("echo")).forwarded, false);
  });

  it("lowercases userHeader as Envoy lowercases header names", () => {
    const host = startHost({ defaultAction: "deny", userHeader: "X-LibreChat-User", rules: [{ action: "allow", users: ["u1"] }] });
    assert.equal(post(host, call("echo"), { headers: [["x-librechat-user", "u1"]] }).forwarded, true);
  });

  it("finds a userHeader of any length it accepts (1 to 128), also beside headers of the same length", () => {
    for (const name of ["x", "x-" + "u".repeat(61), "x-" + "u".repeat(62), "x-" + "u".repeat(126)]) {
      const host = startHost({ defaultAction: "deny", userHeader: name, rules: [{ action: "allow", users: ["u1"] }] });
      const sameLength = "y" + name.slice(1);
      assert.equal(post(host, call("echo"), { headers: [[sameLength, "u1"], [name, "u1"]] }).forwarded, true, `${name.length} bytes`);
      assert.equal(post(host, call("echo"), { headers: [[sameLength, "u1"]] }).forwarded, false, `${name.length} bytes, only a look-alike`);
    }
  });

  it("accepts escaped field names in the configuration, as JSON.parse does", () => {
    assert.equal(refuse('{"default\\u0041ction":"allow"}').started, true);
  });
});
