// Rate limits in the emulator: token buckets in shared data, shared by the workers of one Envoy.
import * as assert from "node:assert/strict";
import { ProxyWasmHost, WasmResult } from "../../filter/host";
import { audits, call, wasm } from "./helpers";
import { EXAMPLE_LIMITS, Workers, policyWith } from "./limits-helpers";

const GZIP = "gzip-file-as-resource";

describe("filter: rate limits", () => {
  it("lets exactly the budget through and answers the rest with -32029 on HTTP 200, with the request's id", () => {
    const w = new Workers(policyWith(EXAMPLE_LIMITS));
    assert.equal(w.passes("alice", GZIP, 5), 5);
    const x = w.call("alice", GZIP, "req-6");
    assert.equal(x.forwarded, false);
    assert.equal(x.reply?.status, 200);
    assert.equal(x.reply?.details, "mcp_filter_rate_limited");
    assert.deepEqual(x.json, {
      jsonrpc: "2.0", id: "req-6",
      error: { code: -32029, message: "Rate limit exceeded: gzip-per-user", data: { limit: "gzip-per-user", retryAfterMs: 60000 } },
    });
    assert.equal(w.passes("alice", GZIP, 3), 0);
    assert.equal(w.metric("mcp_filter.rate_limited.gzip-per-user"), 4);
    assert.equal(w.metric("mcp_filter.rate_limited.calls-per-user"), 0);
  });

  it("refills every fillInterval, and says how long until the next fill", () => {
    const w = new Workers(policyWith(EXAMPLE_LIMITS));
    assert.equal(w.passes("alice", GZIP, 5), 5);
    w.clock.advanceMs(59_999);
    assert.equal(w.call("alice", GZIP).json.error.data.retryAfterMs, 1);
    w.clock.advanceMs(1);
    assert.equal(w.passes("alice", GZIP, 6), 5);
    w.clock.advanceMs(30_000);
    assert.equal(w.call("alice", GZIP).json.error.data.retryAfterMs, 30_000);
  });

  it("allows a burst of maxTokens, then tokensPerFill per interval, never more than maxTokens", () => {
    const w = new Workers(policyWith([{ name: "burst", key: "user", maxTokens: 3, tokensPerFill: 1, fillInterval: "10s" }]));
    assert.equal(w.passes("u", "echo", 4), 3);
    w.clock.advanceMs(10_000);
    assert.equal(w.passes("u", "echo", 2), 1);
    w.clock.advanceMs(25_000); // two fills; the third is 5 s away
    assert.equal(w.passes("u", "echo", 3), 2);
    w.clock.advanceMs(3_600_000);
    assert.equal(w.passes("u", "echo", 5), 3);
  });

  it("when the wall clock steps back, adds no tokens and never asks to wait longer than one fill", () => {
    // proxy_get_current_time_nanoseconds is Envoy's wall clock, which NTP or an operator can set back.
    const w = new Workers(policyWith([{ name: "hourly", key: "user", maxTokens: 2, fillInterval: "1h" }]));
    assert.equal(w.passes("u", "echo", 2), 2);
    w.clock.advanceMs(-5 * 3_600_000);
    const refused = w.call("u", "echo");
    assert.equal(refused.forwarded, false);
    assert.equal(refused.json.error.data.retryAfterMs, 3_600_000);
    w.clock.advanceMs(5 * 3_600_000 + 3_600_000); // back to the time of the fill
    assert.equal(w.passes("u", "echo", 2), 1);
  });

  it("keeps a bucket per user, per tool, or per user and tool, as the limit's key says", () => {
    const limit = (key: string) => policyWith([{ name: "one", key, maxTokens: 1, fillInterval: "1h" }]);
    const byUser = new Workers(limit("user"));
    assert.deepEqual([byUser.call("a", "echo"), byUser.call("a", "get-sum"), byUser.call("b", "echo")].map((x) => x.forwarded), [true, false, true]);
    const byTool = new Workers(limit("tool"));
    assert.deepEqual([byTool.call("a", "echo"), byTool.call("b", "echo"), byTool.call("a", "get-sum")].map((x) => x.forwarded), [true, false, true]);
    const both = new Workers(limit("userAndTool"));
    assert.deepEqual([both.call("a", "echo"), both.call("a", "get-sum"), both.call("b", "echo"), both.call("a", "echo")].map((x) => x.forwarded), [true, true, true, false]);
    // The key is the pair, not the two joined: user "ab" calling "c" is not user "a" calling "bc".
    const pair = new Workers(limit("userAndTool"));
    assert.deepEqual([pair.call("ab", "c"), pair.call("a", "bc")].map((x) => x.forwarded), [true, true]);
  });

  it("counts only tools/call messages, and only the tools and users a limit names", () => {
    const w = new Workers(policyWith([{ name: "bob-gzip", key: "user", tools: ["gzip-*"], users: ["bob"], maxTokens: 1, fillInterval: "1h" }]));
    assert.equal(w.passes("bob", GZIP, 2), 1);
    assert.equal(w.passes("alice", GZIP, 3), 3);
    assert.equal(w.passes("bob", "echo", 3), 3);
    for (let i = 0; i < 3; i++) assert.ok(w.post("bob", JSON.stringify({ jsonrpc: "2.0", id: i, method: "tools/list" })).forwarded);
  });

  it("shares one budget between workers: calls alternate between two VMs and exactly the budget passes", () => {
    const w = new Workers(policyWith(EXAMPLE_LIMITS), 3);
    assert.equal(w.passes("carol", GZIP, 12), 5);
    assert.equal(w.metric("mcp_filter.rate_limited.gzip-per-user"), 7);
  });

  it("keeps maxKeys slots per limit, so shared data does not grow with every user ever seen", () => {
    const w = new Workers(policyWith([{ name: "small", key: "user", maxTokens: 2, fillInterval: "1h", maxKeys: 8 }]));
    const slots = () => w.store.keys("").filter((k) => k.startsWith("mcp_filter.limit.small."));
    let passed = 0;
    for (let u = 0; u < 200; u++) if (w.call(`user-${u}`, "echo").forwarded) passed++;
    // Each admitted user's bucket owes a token for an hour and holds its slot; the rest wait.
    assert.equal(slots().length, 8);
    assert.equal(passed, 8);
    const refused = w.call("user-late", "echo", 9);
    assert.deepEqual(refused.json.error.data, { limit: "small", retryAfterMs: 3_600_000 });
    w.clock.advanceMs(3_600_000); // every bucket is full again: idle, free to take
    for (let u = 200; u < 208; u++) if (w.call(`user-${u}`, "echo").forwarded) passed++;
    assert.ok(passed > 8, "new users get the idle slots");
    assert.equal(slots().length, 8);
  });

  it("at the cap never evicts a bucket that owes tokens: a new key waits until one is full again", () => {
    const w = new Workers(policyWith([{ name: "cap", key: "user", maxTokens: 2, fillInterval: "1h", maxKeys: 2 }]));
    assert.equal(w.passes("u1", "echo", 3), 2);
    w.clock.advanceMs(1);
    assert.equal(w.passes("u2", "echo", 3), 2);
    w.clock.advanceMs(1);
    const refused = w.call("u3", "echo");
    assert.equal(refused.forwarded, false);
    // u1's bucket, the first to be full again, needs two fills: one in 1 h less 2 ms, one an hour later.
    assert.equal(refused.json.error.data.retryAfterMs, 7_199_998);
    assert.equal(w.passes("u1", "echo", 1), 0, "u1 kept its empty bucket");
    w.clock.advanceMs(7_199_998);
    assert.ok(w.call("u3", "echo").forwarded, "u1's bucket is full again: u3 takes its slot");
    assert.equal(w.passes("u1", "echo", 1), 0, "u1 is back while both slots owe tokens: refused, not given a fresh bucket");
  });

  it("a client cannot reset a tool's bucket by crowding its slots with made-up tool names", () => {
    // key: tool, and every name in one probe window (maxKeys 4): the names the limit counts are
    // the client's to choose, as "gzip-*" lets any gzip-<anything> through the policy.
    const w = new Workers(policyWith([{ name: "gzip-tool", key: "tool", tools: ["gzip-*"], maxTokens: 2, fillInterval: "1h", maxKeys: 4 }]));
    assert.equal(w.passes("mallory", GZIP, 2), 2);
    let fakes = 0;
    for (let i = 0; i < 12; i++) if (w.call("mallory", `gzip-made-up-${i}`).forwarded) fakes++;
    assert.equal(fakes, 3, "the three free slots take one made-up name each; the rest wait");
    assert.equal(w.passes("mallory", GZIP, 5), 0, "the real tool's bucket is still empty");
    assert.equal(w.passes("someone-else", GZIP, 1), 0);
  });

  it("a per-user limit listed first caps how many made-up keys one user can make", () => {
    const w = new Workers(policyWith([
      { name: "per-user", key: "user", maxTokens: 2, fillInterval: "1h" },
      { name: "per-tool", key: "tool", maxTokens: 2, fillInterval: "1h", maxKeys: 4 },
    ]));
    let fakes = 0;
    for (let i = 0; i < 12; i++) if (w.call("mallory", `made-up-${i}`).forwarded) fakes++;
    assert.equal(fakes, 2);
    assert.equal(w.metric("mcp_filter.rate_limited.per-user"), 10);
    assert.equal(w.metric("mcp_filter.rate_limited.per-tool"), 0, "the refused calls never reached per-tool");
    assert.equal(w.passes("alice", "echo", 1), 1, "per-tool has slots left for a new key");
    assert.equal(w.passes("bob", "get-sum", 1), 1);
  });

  it("keeps a key over 256 bytes as a digest: two long users that differ only at the end have a bucket each", () => {
    const w = new Workers(policyWith([{ name: "one", key: "user", maxTokens: 1, fillInterval: "1h" }]));
    const long = "u".repeat(300);
    assert.ok(w.call(`${long}a`, "echo").forwarded);
    assert.ok(w.call(`${long}b`, "echo").forwarded);
    assert.equal(w.passes(`${long}a`, "echo", 2), 0);
    const values = w.store.keys("").map((k) => w.store.get("", k)!.value);
    assert.deepEqual(values.map((v) => [v.length, v[13]]), [[22, 1], [22, 1]], "13 bytes of bucket, then 1 and an 8-byte digest");
  });

  it("takes over a slot that holds a value of another layout", () => {
    const w = new Workers(policyWith([{ name: "one", key: "user", maxTokens: 1, fillInterval: "1h", maxKeys: 1 }]));
    w.store.set("", "mcp_filter.limit.one.0", new Uint8Array([1, 2, 3]), 0);
    assert.ok(w.call("kim", "echo").forwarded);
    assert.equal(w.passes("kim", "echo", 1), 0);
    assert.equal(w.store.get("", "mcp_filter.limit.one.0")!.value[0], 2, "layout version 2");
  });

  it("takes over an idle bucket (full again), never a busy one", () => {
    const w = new Workers(policyWith([{ name: "idle", key: "user", maxTokens: 2, tokensPerFill: 1, fillInterval: "10s", maxKeys: 2 }]));
    assert.equal(w.passes("busy", "echo", 2), 2); // empty; full again only at 20 s
    w.clock.advanceMs(5_000);
    assert.equal(w.passes("quiet", "echo", 1), 1); // full again at 15 s
    w.clock.advanceMs(10_000); // 15 s: "quiet" is idle, "busy" has 1 token and is the older
    assert.ok(w.call("new", "echo").forwarded);
    assert.equal(w.passes("busy", "echo", 2), 1, "busy kept its bucket");
  });

  it("answers each over-limit call of a batch with -32029 and refuses the batch; a refused batch spends nothing", () => {
    const w = new Workers(policyWith([{ name: "two", key: "user", maxTokens: 2, fillInterval: "1h" }]));
    const batch = JSON.stringify([1, 2, 3].map((id) => JSON.parse(call("echo", id))));
    const x = w.post("dave", batch);
    assert.equal(x.forwarded, false);
    assert.equal(x.reply?.status, 200);
    assert.deepEqual(x.json.map((e: any) => [e.id, e.error.code]), [[1, -32000], [2, -32000], [3, -32029]]);
    assert.equal(w.passes("dave", "echo", 3), 2, "the batch's tokens were given back");
  });

  it("a call refused by one limit gives back the token it took from another", () => {
    // calls-per-user is listed first, so it has taken a token when gzip-per-user refuses.
    const w = new Workers(policyWith([
      { name: "calls-per-user", key: "user", maxTokens: 7, fillInterval: "1h" },
      { name: "gzip-per-user", key: "user", tools: ["gzip-*"], maxTokens: 5, fillInterval: "1h" },
    ]));
    assert.equal(w.passes("erin", GZIP, 7), 5);
    assert.equal(w.passes("erin", "echo", 3), 2);
    assert.equal(w.metric("mcp_filter.rate_limited.calls-per-user"), 1);
    assert.equal(w.metric("mcp_filter.rate_limited.gzip-per-user"), 2);
  });

  it("in monitor mode forwards an over-limit call and counts it as would_rate_limit", () => {
    const w = new Workers(policyWith(EXAMPLE_LIMITS, { mode: "monitor" }));
    assert.equal(w.passes("frank", GZIP, 8), 8);
    assert.equal(w.metric("mcp_filter.would_rate_limit.gzip-per-user"), 3);
    assert.equal(w.metric("mcp_filter.rate_limited.gzip-per-user"), 0);
    const lines = w.hosts.flatMap(audits).filter((a) => a.limit === "gzip-per-user");
    assert.equal(lines.length, 3);
    for (const a of lines) assert.deepEqual([a.decision, a.mode, a.forwarded], ["rate_limited", "monitor", true]);
  });

  it("names the limit in the audit line of a refused call", () => {
    const w = new Workers(policyWith(EXAMPLE_LIMITS), 1);
    w.passes("gina", GZIP, 6);
    const last = audits(w.hosts[0]).pop();
    assert.deepEqual([last.decision, last.limit, last.rule, last.forwarded, last.tool], ["rate_limited", "gzip-per-user", "default", false, GZIP]);
    assert.equal(audits(w.hosts[0]).filter((a) => "limit" in a).length, 1);
  });

  it("a policy denial spends no tokens", () => {
    const w = new Workers(policyWith([{ name: "one", key: "user", maxTokens: 1, fillInterval: "1h" }], {
      rules: [{ name: "no-env", action: "deny", tools: ["get-env"] }],
    }));
    assert.equal(w.call("hal", "get-env").json.error.code, -32602);
    assert.ok(w.call("hal", "echo").forwarded);
  });

  it("refuses a bad limit naming the field, and accepts the documented example", () => {
    const refusal = (limits: unknown[]) => {
      const host = ProxyWasmHost.load(wasm(), { pluginConfig: JSON.stringify(policyWith(limits)) });
      assert.equal(host.start(), false);
      return host.logs("critical")[0].message;
    };
    const base = { name: "l", key: "user", maxTokens: 5, fillInterval: "1m" };
    assert.match(refusal([{ ...base, fillInterval: "1.5m" }]), /^mcp_filter: invalid configuration: limits\[0\]\.fillInterval: expected a duration .*got "1\.5m"; the filter refuses to start$/);
    assert.match(refusal([base, { ...base, key: "session" }]), /limits\[1\]\.key: expected "user", "tool" or "userAndTool", got "session"/);
    assert.match(refusal([base, { ...base, name: "l" }]), /limits\[1\]\.name: duplicate limit name "l"/);
    assert.match(refusal([{ ...base, name: "default" }]), /limits\[0\]\.name: "default" is reserved/);
    assert.match(refusal([{ name: "l", key: "user", fillInterval: "1m" }]), /limits\[0\]\.maxTokens: required/);
    const ok = ProxyWasmHost.load(wasm(), { pluginConfig: JSON.stringify(policyWith(EXAMPLE_LIMITS)) });
    assert.ok(ok.start());
    assert.ok(ok.logs("info").some((l) => l.message.includes("0 rules, 2 limits")));
  });

  describe("compare-and-swap", () => {
    it("a worker whose write lost to another worker's reads again and spends on top of it, never twice", () => {
      const w = new Workers(policyWith([{ name: "five", key: "user", maxTokens: 5, fillInterval: "1h" }]), 2);
      assert.ok(w.call("ivy", "echo").forwarded); // the slot exists now
      let injected = 0;
      let sets = 0;
      w.store.beforeSet = (vmId, key) => {
        sets++;
        if (injected > 0 || !key.startsWith("mcp_filter.limit.five.")) return;
        injected++;
        // Worker 2 spends a token between worker 1's get and its set.
        assert.ok(w.call("ivy", "echo").forwarded);
      };
      assert.ok(w.call("ivy", "echo").forwarded);
      assert.equal(injected, 1);
      assert.equal(sets, 2, "the losing write was tried again once");
      w.store.beforeSet = undefined;
      assert.equal(w.passes("ivy", "echo", 5), 2, "3 spent before, 2 left: none spent twice");
    });

    it("refuses the call (fail closed, retry at once) when every attempt conflicts", () => {
      const w = new Workers(policyWith([{ name: "five", key: "user", maxTokens: 5, fillInterval: "1h" }]), 1);
      assert.ok(w.call("jo", "echo").forwarded);
      let sets = 0;
      w.store.beforeSet = (vmId, key) => {
        sets++;
        const cur = w.store.get(vmId, key);
        if (cur) assert.equal(w.store.set(vmId, key, cur.value, 0), WasmResult.Ok); // same value, new cas
      };
      const x = w.call("jo", "echo");
      assert.equal(x.json.error.code, -32029);
      assert.equal(x.json.error.data.retryAfterMs, 1);
      assert.equal(sets, 8);
      w.store.beforeSet = undefined;
      assert.equal(w.passes("jo", "echo", 5), 4);
    });
  });
});
