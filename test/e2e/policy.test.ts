// Policy features as a user sees them end to end: the body limit, monitor mode, per-user rules.
import { strict as assert } from "node:assert";
import * as http from "node:http";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import {
  ENGINES, callsReaching, connect, rawRequest, responseMessages, sessionHeaders, startEverything, startRecorder, startTestGateway,
  type Everything, type Recorder, type Session, type TestGateway,
} from "./harness";

const MAX_BODY = 4096;
const RULE = "no-env-no-fetch";
const policy = (mode: "enforce" | "monitor"): object => ({
  defaultAction: "allow",
  rules: [
    { name: "alice-no-echo", action: "deny", tools: ["echo"], users: ["alice"] },
    { name: RULE, action: "deny", tools: ["get-env", "gzip-*"] },
  ],
  userHeader: "x-user-id",
  hideDeniedTools: true,
  maxBodyBytes: MAX_BODY,
  mode,
});

function text(result: Record<string, unknown>): string {
  const content = result.content as Array<{ text?: string }> | undefined;
  return (content ?? []).map((c) => c.text ?? "").join("");
}

/** An echo tools/call whose JSON body is exactly `bytes` long. */
function echoBodyOfSize(id: number, bytes: number): string {
  const shell = (pad: string): string => JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "echo", arguments: { message: pad } } });
  const body = shell("x".repeat(bytes - shell("").length));
  assert.equal(Buffer.byteLength(body), bytes);
  return body;
}

for (const engine of ENGINES) describe(`e2e [${engine}]: policy features through the gateway`, function () {
  let everything: Everything;
  let recorder: Recorder;
  let enforce: TestGateway;
  let monitor: TestGateway;
  const sessions: Session[] = [];
  const open = async (via: TestGateway, headers: Record<string, string> = {}): Promise<Session> => {
    const s = await connect(via.url, { ...via.auth, ...headers });
    sessions.push(s);
    return s;
  };

  before(async function () {
    everything = await startEverything();
    recorder = await startRecorder(everything.url);
    enforce = await startTestGateway(recorder.url, policy("enforce"), engine);
    monitor = await startTestGateway(recorder.url, policy("monitor"), engine);
  });

  after(async function () {
    for (const s of sessions) await s.close();
    await enforce?.close();
    await monitor?.close();
    await recorder?.stop();
    await everything?.stop();
  });

  describe("maxBodyBytes", function () {
    it("a body of exactly maxBodyBytes is judged and forwarded", async function () {
      const s = await open(enforce);
      recorder.requests.length = 0;
      const body = echoBodyOfSize(21, MAX_BODY);
      const res = await rawRequest(`${enforce.url}/mcp`, "POST", sessionHeaders(s), body);
      assert.equal(res.status, 200);
      const reply = responseMessages(res).find((m) => m.id === 21);
      assert.ok(reply?.result !== undefined, `echo ran: ${res.text.slice(0, 300)}`);
      // The SDK's GET stream may reach the server meanwhile; only POSTs carry calls.
      const posts = recorder.requests.filter((r) => r.method === "POST");
      assert.equal(posts.length, 1);
      assert.equal(posts[0].body.toString(), body, "the server got the body byte for byte");
    });

    it("a body one byte over maxBodyBytes gets a JSON-RPC error, is counted, and nothing reaches the server", async function () {
      const s = await open(enforce);
      recorder.requests.length = 0;
      const counted = await enforce.gateway.metric("mcp_filter.oversize_bodies") ?? 0;
      const res = await rawRequest(`${enforce.url}/mcp`, "POST", sessionHeaders(s), echoBodyOfSize(22, MAX_BODY + 1));
      // filter/README.md: 413 with JSON-RPC -32600, so MCP clients still get JSON they can read.
      assert.equal(res.status, 413);
      assert.match(String(res.headers["content-type"]), /application\/json/);
      const [reply] = responseMessages(res);
      assert.equal(reply?.jsonrpc, "2.0");
      assert.equal((reply?.error as { code?: unknown } | undefined)?.code, -32600, res.text);
      assert.equal(reply?.result, undefined);
      assert.deepEqual(recorder.requests.filter((r) => r.method === "POST").map((r) => r.body.length), [], "nothing was forwarded");
      assert.equal(await enforce.gateway.metric("mcp_filter.oversize_bodies"), counted + 1);
    });
  });

  describe("mode: monitor", function () {
    it("enforce mode denies get-env and counts the denial under the rule's name", async function () {
      const s = await open(enforce);
      const counted = await enforce.gateway.metric(`mcp_filter.denied.${RULE}`) ?? 0;
      await assert.rejects(s.client.callTool({ name: "get-env", arguments: {} }), (err: unknown) => err instanceof McpError && err.code === -32602);
      assert.equal(await enforce.gateway.metric(`mcp_filter.denied.${RULE}`), counted + 1);
    });

    it("monitor mode forwards the same call, so get-env runs, and counts it as a would-be denial", async function () {
      const s = await open(monitor);
      recorder.requests.length = 0;
      const counted = await monitor.gateway.metric(`mcp_filter.would_deny.${RULE}`) ?? 0;
      const result = await s.client.callTool({ name: "get-env", arguments: {} });
      assert.ok(text(result).includes(everything.canary), "the server ran get-env");
      assert.equal(callsReaching(recorder, ["get-env"]).length, 1);
      assert.equal(await monitor.gateway.metric(`mcp_filter.would_deny.${RULE}`), counted + 1);
      assert.equal(await monitor.gateway.metric(`mcp_filter.denied.${RULE}`) ?? 0, 0, "monitor mode denies nothing");
    });

    it("monitor mode lists the tools enforce mode hides", async function () {
      const s = await open(monitor);
      const names = (await s.client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes("get-env"), names.join(", "));
    });
  });

  describe("per-user rules keyed on userHeader", function () {
    it("alice may not call echo and does not see it listed", async function () {
      const alice = await open(enforce, { "x-user-id": "alice" });
      recorder.requests.length = 0;
      await assert.rejects(alice.client.callTool({ name: "echo", arguments: { message: "hi" } }), (err: unknown) => {
        assert.ok(err instanceof McpError);
        assert.equal(err.code, -32602);
        assert.match(err.message, /Unknown tool: echo/);
        return true;
      });
      assert.deepEqual(callsReaching(recorder, ["echo"]), []);
      const names = (await alice.client.listTools()).tools.map((t) => t.name);
      assert.ok(!names.includes("echo"), names.join(", "));
      assert.ok(names.includes("get-sum"), "alice still sees the tools she may call");
    });

    it("bob, under the same policy, calls echo and sees it listed", async function () {
      const bob = await open(enforce, { "x-user-id": "bob" });
      const result = await bob.client.callTool({ name: "echo", arguments: { message: "hi from bob" } });
      assert.match(text(result), /hi from bob/);
      const names = (await bob.client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes("echo"), names.join(", "));
    });
  });

  describe("hideDeniedTools on a resumed stream", function () {
    /** Reads an SSE GET until `done` holds for what came so far (or `ms` pass), then hangs up. */
    function readEvents(url: string, headers: Record<string, string>, done: (text: string) => boolean, ms = 5000): Promise<{ status: number; text: string }> {
      const u = new URL(url);
      return new Promise((resolve, reject) => {
        const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname, method: "GET", headers, agent: false }, (res) => {
          let text = "";
          const finish = (): void => { clearTimeout(timer); req.destroy(); resolve({ status: res.statusCode ?? 0, text }); };
          const timer = setTimeout(finish, ms);
          res.on("data", (c: Buffer) => { text += c.toString("utf8"); if (done(text)) finish(); });
          res.on("end", finish);
        });
        req.on("error", reject);
        req.end();
      });
    }

    /** tools/list as `user`, then a resume from before its answer; the names the replay lists. */
    async function replayedTools(user?: string): Promise<string[]> {
      const extra: Record<string, string> = user === undefined ? {} : { "x-user-id": user };
      const s = await open(enforce, extra);
      const list = await rawRequest(`${enforce.url}/mcp`, "POST", { ...sessionHeaders(s), ...extra }, JSON.stringify({ jsonrpc: "2.0", id: 31, method: "tools/list" }));
      const ids = [...list.text.matchAll(/^id: *(.+?)\r?$/gm)].map((m) => m[1]);
      // The SDK's server opens each stream with an empty event that has an id (a resumption point).
      assert.ok(ids.length >= 2, `the server gave its events ids: ${list.text.slice(0, 200)}`);
      // Resume from before the answer: the server sends it again, on the GET stream.
      const headers = { ...sessionHeaders(s, undefined), ...extra, accept: "text/event-stream", "last-event-id": ids[0] };
      const replay = await readEvents(`${enforce.url}/mcp`, headers, (t) => t.includes("\"tools\":["));
      assert.equal(replay.status, 200);
      const answer = responseMessages({ status: 200, headers: { "content-type": "text/event-stream" }, text: replay.text }).find((m) => m.id === 31);
      assert.ok(answer !== undefined, `the server replayed the answer: ${replay.text.slice(0, 300)}`);
      return (answer.result as { tools: Array<{ name: string }> }).tools.map((t) => t.name);
    }

    it("the server's replay of a tools/list answer (GET with Last-Event-ID) lacks the denied tools too", async function () {
      const names = await replayedTools();
      for (const denied of ["get-env", "gzip-file-as-resource"]) assert.ok(!names.includes(denied), names.join(", "));
      assert.ok(names.includes("echo"), names.join(", "));
    });

    it("the replay is judged for the user who resumes: alice's lacks echo", async function () {
      const names = await replayedTools("alice");
      assert.ok(!names.includes("echo"), names.join(", "));
      assert.ok(names.includes("get-sum"), names.join(", "));
    });
  });
});
