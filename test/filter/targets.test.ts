// A method that acts on a target (a tool, resource or prompt) is one line of
// filter/assembly/targets.ts. resources/subscribe and resources/unsubscribe are resource
// targets there: rules on `resources` decide them, denials hide the resource, audit lines and
// metrics show it, and a request without its uri is refused, as for resources/read.
import * as assert from "node:assert/strict";
import { startHost, post, audits, header } from "./helpers";

const RULES = { defaultAction: "allow", rules: [{ name: "no-secrets", action: "deny", resources: ["file:///secret/*"] }] };

function request(method: string, id: number, params: unknown): string {
  return JSON.stringify({ jsonrpc: "2.0", id, method, params });
}

describe("filter: resources/subscribe and resources/unsubscribe are resource targets", () => {
  for (const method of ["resources/subscribe", "resources/unsubscribe"]) {
    it(`${method}: a resources rule denies it as if the resource did not exist, and the audit line names the resource`, () => {
      const host = startHost(RULES);
      const x = post(host, request(method, 4, { uri: "file:///secret/keys" }), { headers: [["x-user-id", "bob"]] });
      assert.equal(x.forwarded, false);
      assert.equal(x.reply?.status, 200);
      assert.deepEqual(x.json, { jsonrpc: "2.0", id: 4, error: { code: -32002, message: "Resource not found: file:///secret/keys" } });
      const [line] = audits(host);
      assert.equal(line.method, method);
      assert.equal(line.resource, "file:///secret/keys");
      assert.equal(line.tool, undefined);
      assert.equal(line.decision, "deny");
      assert.equal(line.rule, "no-secrets");
      assert.equal(host.metric("mcp_filter.denied.no-secrets"), 1);
      assert.equal(host.metric(`mcp_filter.requests.${method.replace("/", "_")}`), 1);
    });

    it(`${method}: another resource is forwarded, routed by its method`, () => {
      const host = startHost(RULES);
      const x = post(host, request(method, 5, { uri: "demo://resource/static/document/1" }));
      assert.equal(x.forwarded, true);
      assert.equal(header(x.ctx.upstream.headers, "x-mcp-method"), method);
      assert.equal(header(x.ctx.upstream.headers, "x-mcp-tool"), undefined);
      const [line] = audits(host);
      assert.equal(line.resource, "demo://resource/static/document/1");
      assert.equal(line.decision, "allow");
      assert.equal(line.rule, "default");
    });

    it(`${method}: without a string uri it is refused as invalid params`, () => {
      const host = startHost(RULES);
      const missing = post(host, request(method, 6, {}));
      assert.equal(missing.reply?.status, 400);
      assert.deepEqual(missing.json.error, { code: -32602, message: "Invalid params: this method needs params.uri" });
      const notString = post(host, request(method, 7, { uri: 7 }));
      assert.deepEqual(notString.json.error, { code: -32602, message: "Invalid params: params.uri must be a string" });
    });
  }

  it("explains a denial with the rule, the method and the resource under denyResponse explain", () => {
    const host = startHost({ ...RULES, denyResponse: "explain" });
    const x = post(host, request("resources/subscribe", 8, { uri: "file:///secret/keys" }));
    assert.deepEqual(x.json.error, { code: -32003, message: "Denied by policy rule no-secrets: resources/subscribe file:///secret/keys" });
  });

  it("is not matched by a rule on another kind of target", () => {
    const host = startHost({ defaultAction: "allow", rules: [{ name: "no-tools", action: "deny", tools: ["*"] }, { name: "no-prompts", action: "deny", prompts: ["*"] }] });
    assert.equal(post(host, request("resources/subscribe", 9, { uri: "file:///secret/keys" })).forwarded, true);
  });

  it("is matched by neither kind when one rule names two kinds of target", () => {
    const host = startHost({ defaultAction: "allow", rules: [{ name: "both", action: "deny", tools: ["*"], resources: ["*"] }] });
    assert.equal(post(host, request("resources/subscribe", 10, { uri: "file:///secret/keys" })).forwarded, true);
    assert.equal(post(host, JSON.stringify({ jsonrpc: "2.0", id: 11, method: "tools/call", params: { name: "echo" } })).forwarded, true);
  });
});
