// The delay the filter adds to each SSE event of a streamed answer: an upstream in this process
// answers one tools/call POST through A (no filter) and one through B (the filter), and writes
// every event to both streams at the same instant. Each event's latency is its arrival at the
// client less that instant; the filter's delay is B's latency less A's, compared at the median
// and at the 99th percentile (a percentile of per-event differences would add up the scheduling
// noise of both paths instead).
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { startEnvoy, type EnvoyLogLevel, type EnvoyProcess } from "../../../envoy/run";
import { LISTENER, proxyConfigs } from "./configs";
import { CLIENT_HEADERS, toolsCall } from "./checks";
import { quantile } from "./load";

export interface SseOptions { events: number; warmup: number; intervalMs: number; wasmPath: string; logLevel: EnvoyLogLevel }

export interface SseResult {
  /** Events compared (after the warm-up). */
  events: number;
  /** B's median latency less A's. */
  medianAddedUs: number;
  /** B's 99th-percentile latency less A's. */
  p99AddedUs: number;
  /** Each path's latency from the upstream's write to the client's read: median and p99. */
  latencyUs: { A: [number, number]; B: [number, number] };
}

/** A progress notification as server-everything frames it, about 200 bytes. */
function progressEvent(k: number, total: number): string {
  return `event: message\nid: ${k}\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":`
    + `{"progressToken":42,"progress":${k},"total":${total},"message":"step ${k} of ${total}: reading the next part of the report"}}\n\n`;
}

/** Waits for two POSTs, then writes the same events to both, alternating which is written first
 *  so neither stream is favoured. */
function serveEvents(o: SseOptions, sent: bigint[]): Promise<http.Server> {
  const open: http.ServerResponse[] = [];
  const server = http.createServer({ noDelay: true }, (req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.flushHeaders();
      open.push(res);
      if (open.length === 2) void emit();
    });
  });
  const emit = async (): Promise<void> => {
    for (let k = 0; k < o.events; k++) {
      await new Promise((r) => setTimeout(r, o.intervalMs));
      const event = progressEvent(k, o.events);
      const order = k % 2 === 0 ? open : [open[1], open[0]];
      sent[k] = process.hrtime.bigint();
      for (const res of order) res.write(event);
    }
    const done = 'event: message\ndata: {"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"done"}]}}\n\n';
    for (const res of open) res.end(done);
  };
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** POSTs a tools/call and returns each event's arrival time (ns, monotonic) by event id. */
function stream(url: string): Promise<Map<number, bigint>> {
  const body = toolsCall("trigger-long-running-operation", 42, { duration: 10, steps: 10 });
  const seen = new Map<number, bigint>();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", agent: false, headers: { ...CLIENT_HEADERS, "content-length": Buffer.byteLength(body) } }, (res) => {
      if (res.statusCode !== 200) { reject(new Error(`${url}: HTTP ${res.statusCode}`)); return; }
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        const arrived = process.hrtime.bigint();
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const id = /^id: (\d+)$/m.exec(buf.slice(0, end));
          if (id) seen.set(Number(id[1]), arrived);
          buf = buf.slice(end + 2);
        }
      });
      res.on("end", () => resolve(seen));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

export async function measureSse(o: SseOptions): Promise<SseResult> {
  if (o.events <= o.warmup) throw new Error(`--sse-events (${o.events}) must exceed the warm-up (${o.warmup})`);
  const sent: bigint[] = [];
  const upstream = await serveEvents(o, sent);
  const envoys: EnvoyProcess[] = [];
  try {
    const configs = proxyConfigs({ host: "127.0.0.1", port: (upstream.address() as AddressInfo).port }, o.wasmPath);
    const a = await startEnvoy({ config: configs.A, logLevel: o.logLevel });
    envoys.push(a);
    const b = await startEnvoy({ config: configs.B, logLevel: o.logLevel });
    envoys.push(b);
    const url = async (e: EnvoyProcess) => { const l = await e.listener(LISTENER); return `http://${l.host}:${l.port}/mcp`; };
    const [viaA, viaB] = await Promise.all([stream(await url(a)), stream(await url(b))]);
    const latencyA: number[] = [];
    const latencyB: number[] = [];
    for (let k = o.warmup; k < o.events; k++) {
      const ta = viaA.get(k);
      const tb = viaB.get(k);
      if (ta === undefined || tb === undefined) throw new Error(`SSE event ${k} did not arrive through ${ta === undefined ? "A" : "B"}`);
      latencyA.push(Number(ta - sent[k]) / 1000);
      latencyB.push(Number(tb - sent[k]) / 1000);
    }
    latencyA.sort((x, y) => x - y);
    latencyB.sort((x, y) => x - y);
    const round = (x: number) => Math.round(x * 10) / 10;
    const added = (q: number) => round(quantile(latencyB, q) - quantile(latencyA, q));
    return {
      events: latencyA.length, medianAddedUs: added(0.5), p99AddedUs: added(0.99),
      latencyUs: { A: [round(quantile(latencyA, 0.5)), round(quantile(latencyA, 0.99))], B: [round(quantile(latencyB, 0.5)), round(quantile(latencyB, 0.99))] },
    };
  } finally {
    await Promise.all(envoys.map((e) => e.stop()));
    upstream.closeAllConnections();
    upstream.close();
  }
}
