// Memory in real Envoy over a long mixed run (issue 13, "Memory"). Filters built with
// AssemblyScript 0.17 have been reported to leak in Envoy's V8 (solo-io/proxy-runtime#40): the
// VM's memory rose with traffic, request after request, until the proxy was killed, and an
// explicit __collect() per stream context did not help. Such a leak grows with the number of
// streams, so this test sends tens of thousands of them (each request is one stream context)
// and samples at fixed request counts: Envoy's RSS, and the VM's linear memory, which the filter
// reports itself in the gauge mcp_filter.vm_memory_bytes (Envoy reports none).
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { parse } from "yaml";
import { localEnvoyConfig, renderEnvoyConfig } from "../../infra/envoyConfig";
import { startEnvoy, type EnvoyProcess } from "../../envoy/run";
import { GATEWAY_AUTH, GATEWAY_KEY } from "./stack";
import { ProxyWasmHost } from "../../filter/host";

const ROOT = path.join(__dirname, "..", "..");
const WASM = path.join(ROOT, "filter", "build", "mcp_filter.wasm");
/** server-everything 2026.8.31's answer to tools/list (its `result`), as captured from it. */
const TOOLS_RESULT = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "everything-tools-list.json"), "utf8")) as { tools: Array<{ name: string }> };
const GAUGE = "wasmcustom.mcp_filter.vm_memory_bytes";

// The run: REQUESTS requests over CONNECTIONS keep-alive connections, sampled every SAMPLE_EVERY.
// Envoy closes an HTTP/1.1 connection after a 400 local reply (conn_manager_impl.cc,
// ActiveStream::onLocalReply), so each parse error also makes its client reconnect: the run
// opens thousands of connections as well.
const REQUESTS = 40_000;
const SAMPLE_EVERY = 2_000;
const CONNECTIONS = 4;
const BIG_EVERY = 100; // one 1 MB body in every 100 requests

// What a leak looks like at this request count. Over the second half of the run (REQUESTS / 2 =
// 20,000 requests, after a first half of warm-up) memory may grow by at most:
// - RSS: 1 MiB. Samples are taken with no request in flight; after the first 2,000 requests they
//   moved by 0.1 MiB at most here. A leak of L bytes a request adds L x 20,000 to RSS, in Envoy
//   or in the VM (whose pages count once touched, and a growing heap touches new ones as it
//   fills them): anything from about 50 bytes a request is over the bound.
// - VM: 2 pages (128 KiB). Without a leak the VM's memory stays put after warm-up (it does
//   exactly in the emulator: test/filter/memory.test.ts). It moves in steps: AssemblyScript
//   0.17's allocator grows memory by as much again as it has (or what one block needs), so a
//   leak shows once it has filled the room there is, then as a jump of the whole size.
// Checked: the filter made to keep 64 bytes at each stream's end (about 90 with the block's
// header and its slot in an array) grew RSS by 1.9 MiB and the VM from 4.5 to 9 MiB over the
// second half; 256 bytes, by 5.7 MiB and from 10 to 20 MiB.
const VM_BOUND = 2 * 65536;
const RSS_BOUND = 1024 * 1024;

/** The stack's default policy, as `pulumi up` gets it from Pulumi.yaml. */
function defaultPolicy(): Record<string, unknown> {
  const project = parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { config: { policy: { default: Record<string, unknown> } } };
  return project.config.policy.default;
}

// --- the upstream: answers at once, the way server-everything would, tools/list in SSE -----

interface Upstream { port: number; toolsLists: number; close(): Promise<void> }

function answer(m: { id?: unknown; method?: string }): object {
  return { jsonrpc: "2.0", id: m.id, result: { content: [{ type: "text", text: `ok ${String(m.method)}` }] } };
}

async function startUpstream(): Promise<Upstream> {
  const up = { toolsLists: 0 };
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body: any;
      try { body = JSON.parse(Buffer.concat(chunks).toString("utf8")); } catch {
        res.writeHead(500).end("the upstream got a body that is not JSON"); // the filter lets none through
        return;
      }
      if (!Array.isArray(body) && body.method === "tools/list") {
        up.toolsLists++;
        const data = JSON.stringify({ jsonrpc: "2.0", id: body.id, result: TOOLS_RESULT });
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        res.end(`event: message\nid: ${up.toolsLists}\ndata: ${data}\n\n`);
        return;
      }
      const out = Array.isArray(body) ? body.map(answer) : answer(body);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(out));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get toolsLists() { return up.toolsLists; },
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

// --- the load: a fixed mix, each kind with the answer it must get -------------------------

const DENIED_TOOLS = ["get-env", "gzip-file-as-resource"]; // the default policy's deny-risky-tools
const VISIBLE = TOOLS_RESULT.tools.map((t) => t.name).filter((n) => !DENIED_TOOLS.includes(n));
const call = (id: number, name: string, args: object = {}) => JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } });

/** A string-heavy 1 MB argument, like a file's contents: base64-looking lines, escapes between them. */
const BIG_TEXT = Array.from({ length: 13_000 }, (_, i) => Buffer.from(`line ${i} `.repeat(8)).toString("base64").slice(0, 76)).join("\n");
// Serialized once: only the id changes from one 1 MB call to the next.
const [BIG_HEAD, BIG_TAIL] = call(0, "echo", { message: BIG_TEXT }).split('"id":0');

interface Kind { name: string; body(id: number): string; check(status: number, type: string, text: string): string | undefined }

const ok = (status: number, text: string) => status === 200 && text.includes('"result"') ? undefined : `${status} ${text.slice(0, 200)}`;
const KINDS: Record<string, Kind> = {
  allowed: { name: "allowed call", body: (id) => call(id, "echo", { message: `hello ${id}` }), check: (s, _t, x) => ok(s, x) },
  denied: {
    name: "denied call", body: (id) => call(id, "get-env"),
    check: (s, _t, x) => s === 200 && x.includes('"code":-32602') ? undefined : `${s} ${x.slice(0, 200)}`,
  },
  toolsList: {
    name: "tools/list", body: (id) => JSON.stringify({ jsonrpc: "2.0", id, method: "tools/list" }),
    check: (s, t, x) => {
      if (s !== 200 || !t.startsWith("text/event-stream")) return `${s} ${t}`;
      const data = x.split("\n").find((l) => l.startsWith("data: "));
      const names = data ? (JSON.parse(data.slice(6)).result.tools as Array<{ name: string }>).map((tool) => tool.name) : [];
      return names.join() === VISIBLE.join() ? undefined : `tools ${names.join()}`;
    },
  },
  batch: {
    name: "batch", body: (id) => `[${call(id, "echo", { message: "a" })},${call(id + 1, "get-sum", { a: 1, b: 2 })}]`,
    check: (s, _t, x) => ok(s, x) ?? (JSON.parse(x).length === 2 ? undefined : x.slice(0, 200)),
  },
  parseError: {
    name: "parse error", body: (id) => `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo"`,
    check: (s, _t, x) => s === 400 && x.includes('"code":-32700') ? undefined : `${s} ${x.slice(0, 200)}`,
  },
  big: { name: "1 MB call", body: (id) => `${BIG_HEAD}"id":${id}${BIG_TAIL}`, check: (s, _t, x) => ok(s, x) },
};
const CYCLE = [KINDS.allowed, KINDS.denied, KINDS.allowed, KINDS.toolsList, KINDS.batch, KINDS.allowed, KINDS.parseError, KINDS.allowed, KINDS.denied, KINDS.toolsList];

function kindOf(i: number): Kind {
  return i % BIG_EVERY === BIG_EVERY - 1 ? KINDS.big : CYCLE[i % CYCLE.length];
}

interface Tally { sent: Map<Kind, number>; wrong: number; firstWrong: string[] }

function send(agent: http.Agent, port: number, i: number, tally: Tally): Promise<void> {
  const kind = kindOf(i);
  const body = Buffer.from(kind.body(i));
  const headers: Record<string, string> = {
    ...GATEWAY_AUTH,
    "content-type": "application/json", accept: "application/json, text/event-stream", "content-length": String(body.length),
    "x-user-id": `user-${i % 7}`, "mcp-session-id": "memory-test", "mcp-protocol-version": "2025-06-18",
  };
  tally.sent.set(kind, (tally.sent.get(kind) ?? 0) + 1);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/mcp", method: "POST", headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const problem = kind.check(res.statusCode ?? 0, String(res.headers["content-type"] ?? ""), Buffer.concat(chunks).toString("utf8"));
        if (problem !== undefined && tally.wrong++ < 5) tally.firstWrong.push(`request ${i} (${kind.name}): ${problem}`);
        resolve();
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Requests [from, to) over the connections, each connection one request at a time. */
async function load(agents: http.Agent[], port: number, from: number, to: number, tally: Tally): Promise<void> {
  let next = from;
  await Promise.all(agents.map(async (agent) => {
    while (next < to) await send(agent, port, next++, tally);
  }));
}

// --- sampling ------------------------------------------------------------------------------

interface Sample { requests: number; rssBytes: number; vmBytes: number; seconds: number }

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  assert.ok(m, `no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

async function sample(envoy: EnvoyProcess, requests: number, started: number): Promise<Sample> {
  const vm = (await envoy.stats()).get(GAUGE);
  assert.ok(vm !== undefined, `Envoy has no ${GAUGE}`);
  return { requests, rssBytes: rssBytes(envoy.pid), vmBytes: vm, seconds: (Date.now() - started) / 1000 };
}

const MiB = (n: number) => (n / 1024 / 1024).toFixed(2);

describe("Envoy: memory over a long mixed run", function () {
  this.timeout(300_000);
  let upstream: Upstream;
  let envoy: EnvoyProcess;

  before(async function () {
    upstream = await startUpstream();
    const rendered = renderEnvoyConfig(fs.readFileSync(path.join(ROOT, "envoy", "envoy.yaml"), "utf8"), defaultPolicy(), GATEWAY_KEY);
    const config = localEnvoyConfig(rendered, {
      wasmPath: WASM, listen: { host: "127.0.0.1", port: 0 }, upstream: { host: "127.0.0.1", port: upstream.port }, admin: { host: "127.0.0.1", port: 0 },
    });
    // One worker, so one VM serves every request and the gauge is that VM's size exactly.
    envoy = await startEnvoy({ config, concurrency: 1, logLevel: "warn", componentLogLevels: { wasm: "info" } });
  });

  after(async function () {
    await envoy?.stop();
    await upstream?.close();
  });

  it("levels off: Envoy's RSS and the VM's memory stop growing after warm-up", async function () {
    assert.equal(fs.readFileSync(`/proc/${envoy.pid}/comm`, "utf8").trim(), "envoy");
    const { port } = await envoy.listener("mcp_listener");
    const agents = Array.from({ length: CONNECTIONS }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    const tally: Tally = { sent: new Map(), wrong: 0, firstWrong: [] };
    const started = Date.now();
    const samples = [await sample(envoy, 0, started)];
    // The gauge is the real VM's size: before any request, what the same module has after the
    // same start in the emulator.
    const emulated = ProxyWasmHost.load(fs.readFileSync(WASM), { pluginConfig: JSON.stringify(defaultPolicy()), allowOnHeadersStopIteration: true });
    assert.ok(emulated.start());
    assert.equal(samples[0].vmBytes, emulated.memoryBytes, "the gauge before any request");
    for (let done = 0; done < REQUESTS; done += SAMPLE_EVERY) {
      // Every connection idle at each sample: no request's buffers are counted.
      await load(agents, port, done, done + SAMPLE_EVERY, tally);
      samples.push(await sample(envoy, done + SAMPLE_EVERY, started));
    }
    const seconds = (Date.now() - started) / 1000;
    for (const a of agents) a.destroy();

    console.log("      requests     RSS MiB   VM MiB   seconds");
    for (const s of samples) console.log(`      ${String(s.requests).padStart(8)}  ${MiB(s.rssBytes).padStart(9)}  ${MiB(s.vmBytes).padStart(7)}  ${s.seconds.toFixed(1).padStart(8)}`);
    console.log(`      ${REQUESTS} requests in ${seconds.toFixed(1)} s: ${(REQUESTS / seconds).toFixed(0)} requests/s with sampling; ` +
      [...tally.sent].map(([k, n]) => `${n} ${k.name}`).join(", "));

    // Every request got the answer it should have: a VM that had failed (503 for all) would
    // hold its memory still too.
    assert.equal(tally.wrong, 0, `${tally.wrong} wrong answers, the first: ${tally.firstWrong.join("; ")}`);
    const stats = await envoy.stats();
    assert.equal(stats.get("wasmcustom.mcp_filter.parse_errors"), tally.sent.get(KINDS.parseError));
    assert.equal(upstream.toolsLists, tally.sent.get(KINDS.toolsList));
    assert.equal(stats.get("wasmcustom.mcp_filter.tools_hidden"), DENIED_TOOLS.length * tally.sent.get(KINDS.toolsList)!);

    // The gauge follows the VM: reading a 1 MB body made it grow past that size.
    assert.ok(samples[samples.length - 1].vmBytes > BIG_HEAD.length + BIG_TAIL.length, `the gauge stayed at ${samples[samples.length - 1].vmBytes} bytes`);
    const mid = samples[samples.length >> 1];
    const last = samples[samples.length - 1];
    const vmGrowth = Math.max(...samples.slice(samples.length >> 1).map((s) => s.vmBytes)) - mid.vmBytes;
    const rssGrowth = last.rssBytes - mid.rssBytes;
    assert.ok(vmGrowth <= VM_BOUND, `the VM grew by ${vmGrowth} bytes over the last ${last.requests - mid.requests} requests (bound ${VM_BOUND})`);
    assert.ok(rssGrowth <= RSS_BOUND, `Envoy's RSS grew by ${MiB(rssGrowth)} MiB over the last ${last.requests - mid.requests} requests (bound ${MiB(RSS_BOUND)} MiB)`);
  });
});
