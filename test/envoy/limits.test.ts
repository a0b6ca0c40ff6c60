// Rate limits in real Envoy with two worker threads: the buckets live in proxy-wasm shared data,
// so both workers' VMs spend one budget. Parallel calls, each on its own connection (Envoy
// spreads connections over its workers), and exactly the budget reaches the server.
import { strict as assert } from "node:assert";
import { rawRequest } from "../e2e/harness";
import {
  JSON_HEADERS, STACK_POLICY, call, connectionsPerWorker, hostPortOf, prometheusValues, startStackEnvoy, startStub, upstreamRequests,
  type StackEnvoy, type Stub,
} from "./stack";

const BUDGET = 10;
const POLICY = {
  ...STACK_POLICY,
  limits: [{ name: "echo-per-user", key: "user", tools: ["echo"], maxTokens: BUDGET, fillInterval: "1h" }],
};

interface Outcome { passed: number; limited: number; other: string[] }

/** `n` calls of echo by `user`, all at once, each on a connection of its own. */
async function burst(stack: StackEnvoy, user: string, n: number, stub: Stub): Promise<Outcome> {
  const answers = await Promise.all(Array.from({ length: n }, (_, i) =>
    rawRequest(stack.mcpUrl, "POST", { ...JSON_HEADERS, "x-user-id": user }, call(`${user}-${i}`, "echo", { message: "m" }))));
  const out: Outcome = { passed: 0, limited: 0, other: [] };
  answers.forEach((res, i) => {
    const body = JSON.parse(res.text);
    if (res.status === 200 && body.result?.stub === stub.name) out.passed++;
    else if (res.status === 200 && body.error?.code === -32029 && body.id === `${user}-${i}` && body.error.data.limit === "echo-per-user") out.limited++;
    else out.other.push(`${res.status} ${res.text}`);
  });
  return out;
}

describe("Envoy: rate limits hold across worker threads", function () {
  let stub: Stub;
  let stack: StackEnvoy;

  before(async function () {
    stub = await startStub();
    stack = await startStackEnvoy({ upstream: hostPortOf(stub.url), policy: POLICY, concurrency: 2 });
  });
  after(async function () {
    await stack?.stop();
    await stub?.stop();
  });

  it("of 30 parallel calls by one user exactly the budget passes, the rest get -32029; another user has a budget of its own", async function () {
    const alice = await burst(stack, "alice", 30, stub);
    assert.deepEqual(alice, { passed: BUDGET, limited: 30 - BUDGET, other: [] });
    const perWorker = await connectionsPerWorker(stack.envoy);
    assert.equal(perWorker.length, 2, "two workers");
    assert.ok(perWorker.every((n) => n > 0), `both workers took calls: ${perWorker.join(", ")}`);

    const bob = await burst(stack, "bob", 15, stub);
    assert.deepEqual(bob, { passed: BUDGET, limited: 5, other: [] });
    assert.equal(await upstreamRequests(stack.envoy), 2 * BUDGET, "only the calls within budget reached the server");

    const values = prometheusValues((await stack.envoy.admin("/stats/prometheus")).text);
    assert.equal(values.get("mcp_filter_rate_limited_echo_per_user{}"), 25);
    assert.equal(values.get("mcp_filter_would_rate_limit_echo_per_user{}"), 0);
    assert.equal(values.get("mcp_filter_tool_calls_echo{}"), 45);
  });

  it("names the limit in the audit line of each refused call", async function () {
    const refused = () => stack.pluginLines().filter((l) => l.startsWith("{\"audit\"")).map((l) => JSON.parse(l)).filter((a) => a.decision === "rate_limited");
    // Envoy writes its log out about once a second (--log-path).
    const deadline = Date.now() + 10_000;
    while (refused().length < 25 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const lines = refused();
    assert.equal(lines.length, 25);
    for (const a of lines) assert.deepEqual([a.limit, a.tool, a.forwarded], ["echo-per-user", "echo", false]);
  });
});
