// Before it measures, the bench proves each configuration does what its numbers claim: B and C
// deny a get-env call and allow get-sum, B removes get-env from the tools/list answer, and every
// bench body passes each configuration whole to the upstream and back. A run that fails a check
// measures nothing.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import { gatewayKeyHeader } from "../../../infra/envoyConfig";
import { ANSWER_HEADER, BENCH_GATEWAY_KEY, CALL_ANSWER_SSE, ENVOY_YAML, RATE_CHECK_LIMIT, RATE_CHECK_USERS, TOOLS_LIST_ANSWER, runsTheFilter, type ConfigName } from "./configs";

export interface Reply { status: number; contentType: string; body: string }

/** Headers a LibreChat MCP client sends on every POST (the gateway key, and the user id through
 *  {{LIBRECHAT_USER_ID}}). */
export const CLIENT_HEADERS: Record<string, string> = {
  [gatewayKeyHeader(fs.readFileSync(ENVOY_YAML, "utf8"))]: BENCH_GATEWAY_KEY,
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-session-id": "0b9c1a9e-3d7c-4a52-9a3e-2f1d3c4b5a69",
  "mcp-protocol-version": "2025-06-18",
  "x-user-id": "user-1",
};

/** A POST with the client's headers; on a connection of its own unless `agent` keeps one alive. */
export function post(url: string, body: Buffer | string, headers: Record<string, string> = {}, agent: http.Agent | false = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", agent, headers: { ...CLIENT_HEADERS, ...headers, "content-length": Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

export const toolsCall = (name: string, id: number, args: unknown = {}): string =>
  JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } });

export const TOOLS_LIST_REQUEST = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list", params: {} });
export const TOOLS_LIST_HEADERS = { [ANSWER_HEADER]: TOOLS_LIST_ANSWER };

/** The tool names in an SSE tools/list answer. */
export function toolNames(sse: string): string[] {
  const data = sse.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
  const message = JSON.parse(data) as { result?: { tools?: Array<{ name: string }> } };
  if (!Array.isArray(message.result?.tools)) throw new Error(`not a tools/list answer: ${sse.slice(0, 200)}`);
  return message.result!.tools!.map((t) => t.name);
}

function fail(config: ConfigName, what: string, reply: Reply): never {
  throw new Error(`check failed for ${config}: ${what}; got HTTP ${reply.status} ${reply.contentType}: ${reply.body.slice(0, 300)}`);
}

/** A reply's body as a JSON-RPC error answer; empty when it is not JSON, so that checks on it fail. */
function errorAnswer(reply: Reply): { id?: unknown; error?: { code?: number; data?: { limit?: string } } } {
  try { return JSON.parse(reply.body) as ReturnType<typeof errorAnswer>; } catch { return {}; }
}

/** R's limits are in force: a user of the check limit gets one call, and the second is refused
 *  with the filter's rate-limit error. */
async function checkRateLimit(url: string): Promise<void> {
  const user = RATE_CHECK_USERS.replace("*", randomBytes(6).toString("hex"));
  const first = await post(url, toolsCall("get-sum", 1, { a: 1, b: 2 }), { "x-user-id": user });
  if (first.status !== 200 || first.body !== CALL_ANSWER_SSE) fail("R", "the rate-check user's first call did not pass", first);
  const second = await post(url, toolsCall("get-sum", 2, { a: 1, b: 2 }), { "x-user-id": user });
  const answer = errorAnswer(second);
  if (second.status !== 200 || answer.id !== 2 || answer.error?.code !== -32029 || answer.error.data?.limit !== RATE_CHECK_LIMIT) {
    fail("R", "the rate-check user's second call was not refused over its limit", second);
  }
}

/** The policy checks: get-env denied by B (and B0, R) and C, get-sum allowed by all, tools/list
 *  rewritten by B (and B0, R) only, and R's limits in force. */
export async function checkPolicies(urls: Partial<Record<ConfigName, string>>): Promise<void> {
  for (const [config, url] of Object.entries(urls) as Array<[ConfigName, string]>) {
    const sum = await post(url, toolsCall("get-sum", 42, { a: 1, b: 2 }));
    if (sum.status !== 200 || sum.body !== CALL_ANSWER_SSE) fail(config, "get-sum did not reach the upstream and come back unchanged", sum);

    const env = await post(url, toolsCall("get-env", 7));
    if (runsTheFilter(config)) {
      // The filter answers a denial itself: a JSON-RPC error with the request's id, on HTTP 200.
      const answer = errorAnswer(env);
      if (env.status !== 200 || answer.id !== 7 || typeof answer.error?.code !== "number") fail(config, "get-env was not denied with a JSON-RPC error", env);
    } else if (config === "C") {
      // RBAC denies with its own 403; the native filter does not answer in JSON-RPC.
      if (env.status !== 403) fail(config, "get-env was not denied by RBAC", env);
    } else if (env.status !== 200 || env.body !== CALL_ANSWER_SSE) {
      fail(config, "passthrough did not pass get-env", env);
    }

    const list = await post(url, TOOLS_LIST_REQUEST, TOOLS_LIST_HEADERS);
    if (list.status !== 200) fail(config, "tools/list failed", list);
    const names = toolNames(list.body);
    if (!names.includes("get-sum")) fail(config, "tools/list lost get-sum", list);
    if (runsTheFilter(config) && (names.includes("get-env") || names.some((n) => n.startsWith("gzip-")))) fail(config, "the filter did not remove the denied tools from tools/list", list);
    if (!runsTheFilter(config) && !names.includes("get-env")) fail(config, "tools/list lost get-env without the filter", list);
    if (config === "R") await checkRateLimit(url);
  }
}

/** Each bench body reaches the upstream through every configuration and its answer comes back. */
export async function checkBodies(urls: Partial<Record<ConfigName, string>>, bodies: Array<{ name: string; body: Buffer; headers: Record<string, string> }>): Promise<void> {
  for (const [config, url] of Object.entries(urls) as Array<[ConfigName, string]>) {
    for (const c of bodies) {
      const reply = await post(url, c.body, c.headers);
      const isList = c.headers[ANSWER_HEADER] === TOOLS_LIST_ANSWER;
      const ok = reply.status === 200 && (isList ? toolNames(reply.body).includes("get-sum") : reply.body === CALL_ANSWER_SSE);
      if (!ok) fail(config, `the ${c.name} body was not passed to the upstream`, reply);
    }
  }
}
