// The gateway as an HTTP proxy: CLI lifecycle, framing, streaming, aborts and upstream failures,
// against small local upstreams whose behaviour the tests control.
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { ENGINES, connect, freePort, rawRequest, responseMessages, sessionHeaders, startTestGateway, stopChild, type TestGateway } from "./harness";

const ROOT = path.join(__dirname, "..", "..");

/** Pids whose parent is `pid` (Linux /proc). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name may hold spaces and parentheses: fields resume after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    const state = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return state.slice(state.lastIndexOf(")") + 2, state.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const POLICY = { defaultAction: "allow", rules: [{ name: "no-env", action: "deny", tools: ["get-env"] }], hideDeniedTools: true, mode: "enforce" };
const SSE_EVERY_MS = 80;

interface Stub { url: string; server: http.Server; closed: string[]; sent: number[]; stop(): Promise<void> }

/** /mcp/events streams SSE until the client goes away; /mcp/broken dies after one event; any
 *  other path answers "ok" with a content-length. The paths are under /mcp, the one prefix
 *  envoy.yaml routes. */
async function startStub(): Promise<Stub> {
  const closed: string[] = [];
  const sent: number[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === "/mcp/events") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.flushHeaders();
      let n = 0;
      const timer = setInterval(() => {
        sent.push(Date.now());
        res.write(`event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":${n++}}}\n\n`);
      }, SSE_EVERY_MS);
      res.on("close", () => { clearInterval(timer); closed.push(req.url ?? ""); });
      return;
    }
    if (req.url === "/mcp/broken") {
      // The upstream dies mid-stream, after one event.
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("event: message\ndata: {}\n\n");
      setTimeout(() => req.socket.destroy(), 50);
      return;
    }
    res.writeHead(200, { "content-type": "text/plain", "content-length": "2" });
    res.end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, closed, sent,
    stop: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

/** A one-session SDK server: any other session id gets the SDK's own 404. */
async function startSdkServer(enableJsonResponse: boolean): Promise<{ url: string; stop(): Promise<void> }> {
  const mcp = new McpServer({ name: "stub", version: "1.0.0" });
  mcp.registerTool("hello", { description: "greets" }, async () => ({ content: [{ type: "text", text: "hello" }] }));
  mcp.registerTool("get-env", { description: "the tool the policy denies" }, async () => ({ content: [{ type: "text", text: "env" }] }));
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), enableJsonResponse });
  await mcp.connect(transport);
  const server = http.createServer((req, res) => { void transport.handleRequest(req, res); });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: async () => {
      await mcp.close();
      await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); });
    },
  };
}

for (const engine of ENGINES) describe(`e2e [${engine}]: the gateway as an HTTP proxy`, function () {
  let stub: Stub;
  let gw: TestGateway;
  let tmp: string;

  before(async function () {
    stub = await startStub();
    gw = await startTestGateway(stub.url, POLICY, engine);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-e2e-"));
  });

  after(async function () {
    await gw?.close();
    await stub?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("SSE events reach the client one by one, as the upstream writes them", async function () {
    const arrivals: Array<{ at: number; data: string }> = [];
    const res = await new Promise<http.IncomingMessage>((resolve) => http.get(`${gw.url}/mcp/events`, { headers: gw.auth }, resolve));
    assert.equal(res.headers["content-type"], "text/event-stream");
    assert.equal(res.headers["content-length"], undefined);
    const sentBefore = stub.sent.length;
    await new Promise<void>((resolve) => {
      res.on("data", (chunk: Buffer) => {
        arrivals.push({ at: Date.now(), data: chunk.toString() });
        if (arrivals.length === 5) { res.destroy(); resolve(); }
      });
    });
    for (let i = 0; i < arrivals.length; i++) {
      assert.equal((arrivals[i].data.match(/^event: message$/gm) ?? []).length, 1, `chunk ${i} holds exactly one event`);
      const lag = arrivals[i].at - stub.sent[sentBefore + i];
      assert.ok(lag < SSE_EVERY_MS / 2, `event ${i} arrived ${lag} ms after the upstream sent it`);
    }
  });

  it("a client that goes away mid-stream closes the upstream request too", async function () {
    const closedBefore = stub.closed.length;
    const res = await new Promise<http.IncomingMessage>((resolve) => http.get(`${gw.url}/mcp/events`, { headers: gw.auth }, resolve));
    await new Promise<void>((resolve) => res.once("data", () => resolve()));
    res.destroy();
    const deadline = Date.now() + 2000;
    while (stub.closed.length === closedBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(stub.closed.length, closedBefore + 1, "the upstream saw the stream end");
  });

  it("an upstream that dies mid-stream ends the client's response incomplete, not as a clean end", async function () {
    const res = await new Promise<http.IncomingMessage>((resolve) => http.get(`${gw.url}/mcp/broken`, { headers: gw.auth }, resolve));
    let body = "";
    res.on("data", (c: Buffer) => { body += c.toString(); });
    await new Promise<void>((resolve) => { res.on("close", () => resolve()); res.on("error", () => undefined); });
    assert.equal(body, "event: message\ndata: {}\n\n", "the event sent before the failure was delivered");
    assert.equal(res.complete, false, "a truncated stream must not look complete to the client");
  });

  it("keeps client connections alive across requests, with bodies framed consistently", async function () {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const get = (): Promise<{ reused: boolean; body: string; length?: string }> => new Promise((resolve, reject) => {
        const req = http.get(`${gw.url}/mcp/plain`, { agent, headers: gw.auth }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => { body += c.toString(); });
          res.on("end", () => resolve({ reused: req.reusedSocket, body, length: res.headers["content-length"] }));
        });
        req.on("error", reject);
      });
      const first = await get();
      const second = await get();
      for (const r of [first, second]) {
        assert.equal(r.body, "ok");
        if (r.length !== undefined) assert.equal(Number(r.length), 2);
      }
      assert.equal(second.reused, true, "the second request reused the first connection");
    } finally {
      agent.destroy();
    }
  });

  it("answers 503 with a JSON-RPC error body when the upstream is down", async function () {
    const down = await startTestGateway(`http://127.0.0.1:${await freePort()}`, POLICY, engine);
    try {
      const res = await rawRequest(`${down.url}/mcp`, "POST", { ...down.auth, "content-type": "application/json", accept: "application/json, text/event-stream" },
        JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }));
      assert.equal(res.status, 503);
      assert.match(String(res.headers["content-type"]), /application\/json/);
      const [msg] = responseMessages(res);
      assert.equal(msg.jsonrpc, "2.0");
      assert.equal(typeof (msg.error as { code?: unknown }).code, "number");
    } finally {
      await down.close();
    }
  });

  it("an unknown session's 404 from the SDK server reaches the client unchanged", async function () {
    const sdk = await startSdkServer(false);
    const via = await startTestGateway(sdk.url, POLICY, engine);
    try {
      const live = await connect(via.url, via.auth);
      const headers = { ...sessionHeaders(live), "mcp-session-id": "00000000-0000-4000-8000-000000000000" };
      const body = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" });
      const direct = await rawRequest(`${sdk.url}/mcp`, "POST", headers, body);
      const proxied = await rawRequest(`${via.url}/mcp`, "POST", headers, body);
      assert.equal(direct.status, 404);
      assert.deepEqual([proxied.status, proxied.headers["content-type"], proxied.text], [direct.status, direct.headers["content-type"], direct.text]);
      // What LibreChat's client sees: a 404 it can act on by initializing again.
      const stale = new Client({ name: "stale", version: "1.0.0" });
      await stale.connect(new StreamableHTTPClientTransport(new URL("/mcp", via.url), { sessionId: "00000000-0000-4000-8000-000000000000", requestInit: { headers: via.auth } }));
      await assert.rejects(stale.listTools(), (err: unknown) => err instanceof StreamableHTTPError && err.code === 404);
      await stale.close();
      await live.close();
    } finally {
      await via.close();
      await sdk.stop();
    }
  });

  it("a tools/list answered in JSON is rewritten, and no stale content-length describes the old body", async function () {
    const sdk = await startSdkServer(true);
    const via = await startTestGateway(sdk.url, POLICY, engine);
    try {
      const live = await connect(via.url, via.auth);
      const res = await rawRequest(`${via.url}/mcp`, "POST", sessionHeaders(live), JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list" }));
      assert.match(String(res.headers["content-type"]), /application\/json/);
      // The filter drops content-length and releases the headers before the body is rewritten,
      // so the answer goes out chunked, as Envoy would send it; a length, if any, must be exact.
      const length = res.headers["content-length"];
      if (length !== undefined) assert.equal(Number(length), Buffer.byteLength(res.text));
      const tools = ((responseMessages(res)[0].result as { tools: Array<{ name: string }> }).tools).map((t) => t.name);
      assert.deepEqual(tools, ["hello"]);
      await live.close();
    } finally {
      await via.close();
      await sdk.stop();
    }
  });

  describe("npm run gateway (the CLI)", function () {
    const children: ChildProcess[] = [];
    const cli = (args: string[]): ChildProcess => {
      const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(ROOT, "filter", "gateway.ts"), "--engine", engine, ...args], {
        cwd: ROOT, stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(child);
      return child;
    };
    // A test that times out leaves its await behind; the gateway it started must still go.
    afterEach(async function () {
      for (const c of children.splice(0)) await stopChild(c);
    });

    /** The URL and the gateway key the CLI prints once it listens. */
    async function listening(child: ChildProcess): Promise<{ url: string; auth: Record<string, string> }> {
      let out = "";
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line in 20 s: ${out}`)), 20_000);
        child.stdout!.on("data", (d: Buffer) => {
          out += d.toString();
          const m = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(out);
          const k = /send the gateway key with every request: ([a-z0-9-]+): (\S+)\n/.exec(out);
          if (m && k && m[2] !== "0") { clearTimeout(timer); resolve({ url: m[1], auth: { [k[1]]: k[2] } }); }
        });
        child.once("exit", (code) => { clearTimeout(timer); reject(new Error(`exited ${code}: ${out}`)); });
      });
    }

    const exitOf = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));

    it("prints the real port when listening on port 0, proxies, logs to stderr, and exits 0 on SIGTERM with nothing left running", async function () {
      const config = path.join(tmp, "policy.json");
      fs.writeFileSync(config, JSON.stringify(POLICY));
      const key = randomUUID();
      const child = cli(["--upstream", stub.url, "--listen", "127.0.0.1:0", "--config", config, "--key", key]);
      let err = "";
      child.stderr!.on("data", (d: Buffer) => { err += d.toString(); });
      const { url, auth } = await listening(child);
      assert.deepEqual(auth, { "x-mcp-gateway-key": key }, "the CLI prints the key it was given");
      const spawned = childPids(child.pid!);
      assert.equal(spawned.length, engine === "envoy" ? 1 : 0, `the gateway's child processes: ${spawned.join(", ")}`);
      assert.equal((await rawRequest(`${url}/mcp/plain`, "GET", auth)).text, "ok");
      const unauthorized = await rawRequest(`${url}/mcp/plain`, "GET", {});
      assert.equal(unauthorized.status, 401, "without the key, as in the stack");
      assert.equal((JSON.parse(unauthorized.text) as { error: { code: number } }).error.code, -32000);
      const denied = await rawRequest(`${url}/mcp`, "POST", { ...auth, "content-type": "application/json", "x-user-id": "u-cli" },
        JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "get-env", arguments: {} } }));
      assert.equal(denied.status, 200);
      await until(() => err.includes('"user":"u-cli"'));
      assert.match(err, /\[mcp_filter\] info: \{"audit":"mcp".*"user":"u-cli".*"decision":"deny"/, "the filter's audit line is on stderr");
      // Envoy's access log (envoy.yaml writes it to stdout) comes out on the gateway's stderr;
      // Envoy flushes access logs once a second.
      if (engine === "envoy") await until(() => /\[access\] \{"details":"mcp_filter_denied"/.test(err), 10_000);
      const code = exitOf(child);
      child.kill("SIGTERM");
      assert.equal(await code, 0);
      for (const pid of spawned) assert.equal(alive(pid), false, `Envoy (pid ${pid}) is still running after the gateway stopped`);
    });

    // The emulator runs inside the gateway's own process: only Envoy could be left behind.
    if (engine === "envoy") it("a gateway killed outright leaves no Envoy behind", async function () {
      const config = path.join(tmp, "policy.json");
      fs.writeFileSync(config, JSON.stringify(POLICY));
      const child = cli(["--upstream", stub.url, "--listen", "127.0.0.1:0", "--config", config]);
      await listening(child);
      const [envoy] = childPids(child.pid!);
      assert.ok(envoy !== undefined && alive(envoy));
      const code = exitOf(child);
      child.kill("SIGKILL");
      await code;
      await until(() => !alive(envoy), 5000);
    });

    it("exits non-zero and prints the refusal when the filter refuses the config", async function () {
      const config = path.join(tmp, "bad.json");
      fs.writeFileSync(config, JSON.stringify({ ...POLICY, defaultAction: "maybe" }));
      const child = cli(["--upstream", stub.url, "--listen", "127.0.0.1:0", "--config", config]);
      let err = "";
      child.stderr!.on("data", (d: Buffer) => { err += d.toString(); });
      // A gateway that accepted the config would run until killed: give it 20 s, then fail.
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const code = await exitOf(child);
      clearTimeout(timer);
      assert.ok(code !== null && code !== 0, `a refused config must stop the gateway with a non-zero code (got ${code}): ${err}`);
      assert.match(err, /critical.*defaultAction/);
      if (engine === "emulator") assert.match(err, /refused to start/);
      else assert.match(err, /Envoy refused the configuration:[\s\S]*Unable to create Wasm plugin mcp_filter/, "Envoy's own message");
    });
  });
});
