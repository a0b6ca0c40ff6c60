// SSE per-event latency the gateway (and so the filter's response path) adds, against going
// direct, in the same run:
//   node --no-liftoff -r ts-node/register/transpile-only filter/bench/sse.ts [--json]
//        [--events 2000] [--interval-ms 1] [--warmup 200] [--payload-bytes 200]
// A local SSE upstream (in this process) answers one MCP tools/call POST on each of two
// connections, one direct and one through the gateway (a child process, run as
// `npm run gateway` runs it), and writes every event to both at the same instant. Gateway
// arrival minus direct arrival is the delay added per event, free of the upstream's timer jitter.
// The filter's own share is measured apart: its response-body callback per event, in-process.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { ProxyWasmHost } from "../host";

const ROOT = path.join(__dirname, "..", "..");
const GOAL_US = 1000;
// Envoy runs wasm with V8's optimizing compiler up front (proxy-wasm-cpp-host src/v8/v8.cc).
const NODE_FLAGS = ["--no-liftoff", "-r", "ts-node/register/transpile-only"];
const POLICY = {
  defaultAction: "allow",
  rules: [{ name: "deny-risky-tools", action: "deny", tools: ["get-env", "gzip-*"] }],
  hideDeniedTools: true,
  mode: "enforce",
};

interface Options { json: boolean; events: number; intervalMs: number; warmup: number; payloadBytes: number }

function parseOptions(argv: string[]): Options {
  const num = (flag: string, def: number): number => {
    const i = argv.indexOf(flag);
    if (i < 0) return def;
    const v = Number(argv[i + 1]);
    if (!Number.isFinite(v) || v < 0) throw new Error(`${flag} needs a non-negative number, got ${argv[i + 1]}`);
    return v;
  };
  const o = { json: argv.includes("--json"), events: num("--events", 2000), intervalMs: num("--interval-ms", 1), warmup: num("--warmup", 200), payloadBytes: num("--payload-bytes", 200) };
  if (o.events <= o.warmup) throw new Error(`--events (${o.events}) must exceed --warmup (${o.warmup})`);
  return o;
}

// ---- the upstream ---------------------------------------------------------------------------------

/** A progress notification as server-everything frames it, carrying its send time. */
function progressEvent(k: number, total: number, pad: string, sentNs: bigint): string {
  return `event: message\nid: ${k}\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":`
    + `{"progressToken":1,"progress":${k},"total":${total},"message":"${pad}","sentNs":"${sentNs}"}}\n\n`;
}

/** Waits for `streams` POSTs, then writes the same events to all of them, each stamped with the
 *  monotonic clock. */
function serveUpstream(o: Options, streams: number): Promise<http.Server> {
  const open: http.ServerResponse[] = [];
  const pad = padding(o);
  const server = http.createServer({ noDelay: true }, (req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => { body += c.toString(); });
    req.on("end", () => {
      const id = (JSON.parse(body) as { id: number }).id;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.flushHeaders();
      open.push(res);
      if (open.length === streams) void emit(id);
    });
  });
  const emit = async (id: number): Promise<void> => {
    for (let k = 0; k < o.events; k++) {
      await new Promise((r) => setTimeout(r, o.intervalMs));
      const event = progressEvent(k, o.events, pad, process.hrtime.bigint());
      for (const res of open) res.write(event);
    }
    const done = `event: message\ndata: {"jsonrpc":"2.0","id":${id},"result":{"content":[{"type":"text","text":"done"}]}}\n\n`;
    for (const res of open) res.end(done);
  };
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

const padding = (o: Options): string => "x".repeat(Math.max(0, o.payloadBytes - 150));

// ---- the filter alone ---------------------------------------------------------------------------

/** The filter's response-body callback per SSE event, through the emulator, without any I/O:
 *  the part of the added delay that is the wasm's. */
function filterCostPerEvent(o: Options, wasm: string): number[] {
  const host = ProxyWasmHost.load(fs.readFileSync(wasm), {
    pluginConfig: JSON.stringify(POLICY), allowOnHeadersStopIteration: true, logLevel: "warn",
  });
  if (!host.start()) throw new Error(`the filter refused the bench policy: ${host.logs("error").map((e) => e.message).join("; ")}`);
  const ctx = host.newHttpContext({});
  const body = Buffer.from(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "stream-events", arguments: {} } }));
  ctx.requestHeaders([[":authority", "bench"], [":path", "/mcp"], [":method", "POST"], [":scheme", "http"],
    ["content-type", "application/json"], ["content-length", String(body.length)]], false);
  ctx.requestBody(body, true);
  ctx.responseHeaders([[":status", "200"], ["content-type", "text/event-stream"]], false);
  const pad = padding(o);
  const us: number[] = [];
  for (let k = 0; k < o.events; k++) {
    const event = Buffer.from(progressEvent(k, o.events, pad, process.hrtime.bigint()));
    const t0 = process.hrtime.bigint();
    ctx.responseBody(event, false);
    if (k >= o.warmup) us.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  ctx.responseBody(new Uint8Array(0), true);
  ctx.done();
  return us;
}

// ---- the bench ----------------------------------------------------------------------------------

function startChild(args: string[], ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, [...NODE_FLAGS, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not get ready in 30 s: ${out}`)), 30_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, match: m }); }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => { clearTimeout(timer); reject(new Error(`child exited with ${code}: ${out}`)); });
  });
}

/** POSTs a tools/call and returns, per event id, its arrival time and the upstream's send time. */
function stream(url: string): Promise<Map<number, { arrived: bigint; sent: bigint }>> {
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "stream-events", arguments: {} } });
  const seen = new Map<number, { arrived: bigint; sent: bigint }>();
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/mcp`, {
      method: "POST", agent: false,
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "content-length": Buffer.byteLength(body) },
    }, (res) => {
      if (res.statusCode !== 200) { reject(new Error(`${url}: HTTP ${res.statusCode}`)); return; }
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        const arrived = process.hrtime.bigint();
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const event = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const id = /^id: (\d+)$/m.exec(event);
          const sent = /"sentNs":"(\d+)"/.exec(event);
          if (id && sent) seen.set(Number(id[1]), { arrived, sent: BigInt(sent[1]) });
        }
      });
      res.on("end", () => resolve(seen));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summary(us: number[]): { medianUs: number; p90Us: number; p99Us: number; maxUs: number } {
  const s = [...us].sort((a, b) => a - b);
  const r = (x: number): number => Math.round(x * 10) / 10;
  return { medianUs: r(quantile(s, 0.5)), p90Us: r(quantile(s, 0.9)), p99Us: r(quantile(s, 0.99)), maxUs: r(s[s.length - 1]) };
}

async function bench(o: Options): Promise<void> {
  const wasm = path.join(ROOT, "filter", "build", "mcp_filter.wasm");
  if (!fs.existsSync(wasm)) throw new Error(`${wasm} not found; run npm run build:filter first`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sse-bench-"));
  const config = path.join(tmp, "policy.json");
  fs.writeFileSync(config, JSON.stringify(POLICY));
  const children: ChildProcess[] = [];
  const closers: Array<() => void> = [];
  try {
    const upServer = await serveUpstream(o, 2);
    closers.push(() => { upServer.close(); upServer.closeAllConnections(); });
    const upstream = `http://127.0.0.1:${(upServer.address() as AddressInfo).port}`;
    const gw = await startChild(
      [path.join(ROOT, "filter", "gateway.ts"), "--upstream", upstream, "--listen", "127.0.0.1:0", "--config", config, "--log-level", "warn"],
      /listening on (http:\/\/127\.0\.0\.1:\d+)/,
    );
    children.push(gw.child);
    const [direct, viaGateway] = await Promise.all([stream(upstream), stream(gw.match[1])]);

    const added: number[] = [];
    const directLat: number[] = [];
    const gatewayLat: number[] = [];
    for (let k = o.warmup; k < o.events; k++) {
      const d = direct.get(k);
      const g = viaGateway.get(k);
      if (!d || !g) throw new Error(`event ${k} missing (direct ${d ? "ok" : "missing"}, gateway ${g ? "ok" : "missing"})`);
      added.push(Number(g.arrived - d.arrived) / 1000);
      directLat.push(Number(d.arrived - d.sent) / 1000);
      gatewayLat.push(Number(g.arrived - g.sent) / 1000);
    }
    const addedSummary = summary(added);
    const result = {
      events: o.events - o.warmup, warmup: o.warmup, intervalMs: o.intervalMs, payloadBytes: o.payloadBytes,
      direct: summary(directLat), gateway: summary(gatewayLat), added: addedSummary,
      filterOnly: summary(filterCostPerEvent(o, wasm)),
      goalUs: GOAL_US, meetsGoal: { median: addedSummary.medianUs < GOAL_US, p99: addedSummary.p99Us < GOAL_US },
    };
    if (o.json) {
      process.stdout.write(JSON.stringify(result) + "\n");
    } else {
      const line = (name: string, s: ReturnType<typeof summary>): string =>
        `${name.padEnd(28)} median ${s.medianUs} us  p90 ${s.p90Us} us  p99 ${s.p99Us} us  max ${s.maxUs} us`;
      process.stdout.write(
        `SSE: ${result.events} events (+${o.warmup} warm-up), one every ${o.intervalMs} ms, ~${o.payloadBytes} B each\n`
        + `${line("upstream -> client, direct", result.direct)}\n`
        + `${line("upstream -> client, gateway", result.gateway)}\n`
        + `${line("added by the gateway", result.added)}\n`
        + `${line("of which the filter (wasm)", result.filterOnly)}\n`
        + `goal < ${GOAL_US} us added per event: median ${result.meetsGoal.median ? "met" : "NOT met"},`
        + ` p99 ${result.meetsGoal.p99 ? "met" : "NOT met"}\n`,
      );
    }
  } finally {
    for (const c of children) c.kill("SIGTERM");
    for (const close of closers) close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

bench(parseOptions(process.argv.slice(2))).catch((err: unknown) => {
  process.stderr.write(`sse bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
