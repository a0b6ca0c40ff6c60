// The two sides of the differential test: each engine of the gateway in front of its own
// recording upstream, a raw-socket client that writes a request in given slices and reads the
// response as bytes, and a barrier that tells which filter log lines belong to which request.
import * as http from "node:http";
import * as net from "node:net";
import * as zlib from "node:zlib";
import { startGateway, type Engine, type Gateway } from "../../filter/gateway";
import type { LogEntry } from "../../filter/host";
import { TOOLS, sse, toolsResult } from "../filter/fixtures";
import { GATEWAY_AUTH, GATEWAY_KEY } from "./stack";

/** What an upstream received: the head as the gateway wrote it (names with their case, in order). */
export interface UpstreamRecord {
  method: string;
  path: string;
  httpVersion: string;
  rawHeaders: string[];
  body: Buffer;
  rawTrailers: string[];
  complete: boolean;
}

/** How the recording upstream answers, chosen by the request's x-test-reply header so that both
 *  upstreams answer a request alike. Every answer goes out at once. */
export const REPLIES = [
  "json", "json-chunked", "sse", "tools-json", "tools-sse", "tools-sse-bom", "tools-gzip", "tools-text",
  "accepted", "session-404", "error-500", "no-content", "trailers", "reset", "large-tools", "big-tools", "odd-headers",
] as const;
export type Reply = (typeof REPLIES)[number];

/** The JSON-RPC id of a body's first message as the server would echo it, else null. */
function firstId(body: Buffer): unknown {
  try {
    const v: unknown = JSON.parse(new TextDecoder().decode(body));
    const m = Array.isArray(v) ? v[0] : v;
    const id = (m as { id?: unknown } | null)?.id;
    return typeof id === "string" || typeof id === "number" ? id : null;
  } catch {
    return null;
  }
}

function answer(reply: string | undefined, body: Buffer, res: http.ServerResponse): void {
  const id = firstId(body);
  const result = JSON.stringify({ jsonrpc: "2.0", id, result: { content: [{ type: "text", text: "ok" }] } });
  const tools = toolsResult(typeof id === "number" ? id : 1);
  const json = (status: number, text: string, extra: http.OutgoingHttpHeaders = {}) => {
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...extra });
    res.end(text);
  };
  const events = (text: string) => {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const all = text + sse('{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"done"}}', 2);
    // Two writes, so the stream reaches the gateway in more than one piece.
    res.write(all.slice(0, 40));
    res.end(all.slice(40));
  };
  switch (reply as Reply | undefined) {
    case "json-chunked": res.writeHead(200, { "content-type": "application/json" }); res.write(result.slice(0, 10)); res.end(result.slice(10)); return;
    case "sse": return events(sse(result));
    case "tools-json": return json(200, tools);
    case "tools-sse": return events(sse(tools));
    case "tools-sse-bom": return events("\ufeff" + sse(tools));
    case "tools-gzip": {
      const z = zlib.gzipSync(tools);
      res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip", "content-length": z.length });
      res.end(z);
      return;
    }
    case "tools-text": res.writeHead(200, { "content-type": "text/plain" }); res.end(tools); return;
    case "accepted": res.writeHead(202); res.end(); return;
    case "session-404": return json(404, '{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}');
    case "error-500": res.writeHead(500, { "content-type": "text/plain" }); res.end("upstream failed"); return;
    case "no-content": res.writeHead(204); res.end(); return;
    case "trailers":
      res.writeHead(200, { "content-type": "application/json", trailer: "x-checksum" });
      res.write(result);
      res.addTrailers({ "x-checksum": "abc" });
      res.end();
      return;
    case "reset": res.socket?.destroy(); return;
    case "odd-headers":
      // Headers a proxy rewrites, drops or joins; no Date of its own.
      res.sendDate = false;
      res.writeHead(200, [
        "server", "upstream", "content-type", "application/json", "cache-control", "no-cache", "x-envoy-upstream-service-time", "5",
        "proxy-connection", "keep-alive", "upgrade", "h2c", "cache-control", "private", "x-tag", "1", "x-tag", "2",
      ]);
      res.end(result);
      return;
    // About 1.4 MiB, under the 2 MiB buffer envoy.yaml allows a filter that holds a response
    // (above Envoy's 1 MiB default), and about 2.5 MiB, over it.
    case "large-tools":
    case "big-tools": {
      const count = reply === "big-tools" ? 6000 : 3400;
      const names = [...TOOLS, ...Array.from({ length: count }, (_, i) => `tool-${i}-${"x".repeat(150)}`)];
      return json(200, toolsResult(1, names));
    }
    default: return json(200, result, { "mcp-session-id": "s-1" });
  }
}

export interface RecordingUpstream { url: string; records: UpstreamRecord[]; close(): Promise<void> }

export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const records: UpstreamRecord[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    const record: UpstreamRecord = {
      method: req.method ?? "", path: req.url ?? "", httpVersion: req.httpVersion, rawHeaders: req.rawHeaders,
      body: Buffer.alloc(0), rawTrailers: [], complete: false,
    };
    records.push(record);
    req.on("data", (c: Buffer) => chunks.push(c));
    const settle = () => { record.body = Buffer.concat(chunks); record.rawTrailers = req.rawTrailers; };
    req.on("close", settle);
    req.on("end", () => {
      settle();
      record.complete = true;
      const reply = req.headers["x-test-reply"];
      answer(Array.isArray(reply) ? reply[0] : reply, record.body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    records,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

/** A response as the client read it off the socket. */
export interface ClientView {
  /** 1xx interim statuses, in order. */
  interim: number[];
  status?: number;
  /** Response header names lowercased (HTTP/1 names are case-insensitive), in order. */
  headers: Array<[string, string]>;
  body: Buffer;
  trailers: Array<[string, string]>;
  /** The response ended as its framing says; false when the connection closed or reset first. */
  complete: boolean;
  /** The connection closed without a (complete) response; "reset" for ECONNRESET; "stalled"
   *  when nothing ended it within STALL_MS (a guard: no request here should stall). */
  ended?: "closed" | "reset" | "stalled";
}

function parseHead(text: string): { status: number; headers: Array<[string, string]> } {
  const lines = text.split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? NaN);
  const headers = lines.slice(1).map((l): [string, string] => {
    const colon = l.indexOf(":");
    return [l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()];
  });
  return { status, headers };
}

/** Reads one response; returns the parsed view once it is complete, or undefined for more bytes. */
class ResponseReader {
  readonly view: ClientView = { interim: [], headers: [], body: Buffer.alloc(0), trailers: [], complete: false };
  private buf = Buffer.alloc(0);
  private state: "head" | "length" | "chunked" | "close" | "done" = "head";
  private remaining = 0;
  private readonly chunks: Buffer[] = [];

  constructor(private readonly method: string) {}

  push(data: Buffer): boolean {
    this.buf = Buffer.concat([this.buf, data]);
    for (;;) {
      if (this.state === "done") return true;
      if (this.state === "head") {
        const end = this.buf.indexOf("\r\n\r\n");
        if (end < 0) return false;
        const { status, headers } = parseHead(this.buf.subarray(0, end).toString("latin1"));
        this.buf = this.buf.subarray(end + 4);
        if (status >= 100 && status < 200) { this.view.interim.push(status); continue; }
        this.view.status = status;
        this.view.headers = headers;
        const get = (n: string) => headers.find(([k]) => k === n)?.[1];
        if (this.method === "HEAD" || status === 204 || status === 304) this.state = "done";
        else if (/chunked/i.test(get("transfer-encoding") ?? "")) this.state = "chunked";
        else if (get("content-length") !== undefined) { this.remaining = Number(get("content-length")); this.state = "length"; }
        else this.state = "close";
        if (this.state === "done") this.finish();
        continue;
      }
      if (this.state === "length") {
        const take = this.buf.subarray(0, this.remaining);
        this.chunks.push(take);
        this.remaining -= take.length;
        this.buf = this.buf.subarray(take.length);
        if (this.remaining === 0) { this.finish(); continue; }
        return false;
      }
      if (this.state === "chunked") {
        const eol = this.buf.indexOf("\r\n");
        if (eol < 0) return false;
        const size = parseInt(this.buf.subarray(0, eol).toString("latin1"), 16);
        if (size === 0) {
          const end = this.buf.indexOf("\r\n\r\n", eol);
          const bare = this.buf.subarray(eol, eol + 4).toString("latin1") === "\r\n\r\n";
          if (!bare && end < 0) return false;
          if (!bare) this.view.trailers = parseHead("HTTP/1.1 000\r\n" + this.buf.subarray(eol + 2, end).toString("latin1")).headers;
          this.finish();
          continue;
        }
        if (this.buf.length < eol + 2 + size + 2) return false;
        this.chunks.push(this.buf.subarray(eol + 2, eol + 2 + size));
        this.buf = this.buf.subarray(eol + 2 + size + 2);
        continue;
      }
      // close-delimited
      this.chunks.push(this.buf);
      this.buf = Buffer.alloc(0);
      return false;
    }
  }

  private finish(): void {
    this.state = "done";
    this.view.complete = true;
    this.view.body = Buffer.concat(this.chunks);
  }

  /** The connection ended: a close-delimited body is complete now, anything else is cut. */
  end(how: "closed" | "reset" | "stalled"): ClientView {
    if (this.state === "close" && how === "closed") this.finish();
    else if (this.state !== "done") {
      this.view.body = Buffer.concat(this.chunks);
      this.view.ended = how;
    }
    return this.view;
  }
}

/** A guard against a request that neither engine ends: far above any answer's time here. */
const STALL_MS = 30_000;

/** Writes `slices` one write each, each after the previous one was flushed, and reads the response. */
export function exchangeRaw(url: string, method: string, slices: Buffer[]): Promise<ClientView> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const reader = new ResponseReader(method);
    let settled = false;
    const socket = net.connect({ host: u.hostname, port: Number(u.port), noDelay: true });
    const stall = setTimeout(() => settle(reader.end("stalled")), STALL_MS);
    const settle = (view: ClientView) => {
      if (settled) return;
      settled = true;
      clearTimeout(stall);
      socket.destroy();
      resolve(view);
    };
    socket.on("data", (d: Buffer) => { if (reader.push(d)) settle(reader.view); });
    socket.on("end", () => settle(reader.end("closed")));
    socket.on("close", () => settle(reader.end("closed")));
    socket.on("error", (err: NodeJS.ErrnoException) => settle(reader.end(err.code === "ECONNRESET" ? "reset" : "closed")));
    socket.on("connect", async () => {
      for (const slice of slices) {
        if (settled || socket.destroyed) return;
        await new Promise<void>((done) => socket.write(slice, () => done()));
        // A turn of the event loop between writes, so the gateway reads them apart where it can.
        await new Promise<void>((done) => setImmediate(done));
      }
    });
  });
}

/** One engine with its own upstream; `run` returns what the client, the upstream and the
 *  filter's log saw of one request. */
export interface Side {
  engine: Engine;
  gateway: Gateway;
  upstream: RecordingUpstream;
  /** Every log line of the gateway, filter and engine alike. */
  logs: LogEntry[];
  run(method: string, slices: Buffer[], seq: number): Promise<Observation>;
  close(): Promise<void>;
}

export interface Observation {
  client: ClientView;
  upstream: UpstreamRecord[];
  /** The filter's own log lines for this request. */
  filterLines: string[];
  /** Everything else logged meanwhile: the gateway's or Envoy's own lines. */
  otherLines: string[];
}

/** A call the policy denies, answered by the filter itself: its audit line, carrying a unique
 *  id, marks the end of a request's lines in the log. Envoy logs the filter's lines before the
 *  response leaves, and its workers append to one log buffer, so a line of the request a client
 *  has read its response to can no longer come after the barrier's. */
function barrierRequest(seq: number | string): { slices: Buffer[]; token: string } {
  const id = `barrier-${seq}`;
  const body = `{"jsonrpc":"2.0","id":"${id}","method":"tools/call","params":{"name":"get-env"}}`;
  const key = Object.entries(GATEWAY_AUTH).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  const head = `POST /mcp HTTP/1.1\r\nhost: barrier\r\n${key}content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`;
  return { slices: [Buffer.from(head + body)], token: `"id":"${id}"` };
}

/** Filter lines are the plugin's own; the emulator gateway prefixes its own with "gateway:" and
 *  the Envoy engine prefixes Envoy's own with "envoy[". */
const isFilterLine = (e: LogEntry) => !e.message.startsWith("gateway: ") && !e.message.startsWith("envoy[");

export async function startSide(engine: Engine, pluginConfig: string): Promise<Side> {
  const upstream = await startRecordingUpstream();
  const logs: LogEntry[] = [];
  const waiters = new Map<string, () => void>();
  const gateway = await startGateway({
    engine, upstream: upstream.url, listen: "127.0.0.1:0", pluginConfig, gatewayKey: GATEWAY_KEY,
    // Each request waits for its barrier's line: Envoy must write its log out often.
    logFlushMs: 2,
    onLog: (e) => {
      logs.push(e);
      for (const [token, wake] of waiters) if (e.message.includes(token)) { waiters.delete(token); wake(); }
    },
    onAccessLog: () => undefined,
  });
  let from = 0;
  /** Sends a barrier and resolves with the lines logged since the last one. */
  const linesUntilBarrier = async (seq: number | string): Promise<LogEntry[]> => {
    const barrier = barrierRequest(seq);
    const seen = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${engine}: the barrier's audit line did not come within ${STALL_MS} ms`)), STALL_MS);
      waiters.set(barrier.token, () => { clearTimeout(timer); resolve(); });
    });
    const reply = await exchangeRaw(gateway.url, "POST", barrier.slices);
    if (reply.status !== 200) throw new Error(`${engine}: the barrier request got ${reply.status ?? reply.ended}`);
    await seen;
    const at = logs.findIndex((e, i) => i >= from && e.message.includes(barrier.token));
    const lines = logs.slice(from, at);
    from = at + 1;
    return lines;
  };
  // Envoy writes its log out in batches (envoyLogFlags), so its start-up lines can come after it
  // is ready: a first barrier keeps them out of the first request's lines.
  await linesUntilBarrier("start");
  return {
    engine, gateway, upstream, logs,
    async run(method, slices, seq) {
      const recordsBefore = upstream.records.length;
      const client = await exchangeRaw(gateway.url, method, slices);
      const lines = await linesUntilBarrier(seq);
      return {
        client,
        upstream: upstream.records.slice(recordsBefore),
        filterLines: lines.filter(isFilterLine).map((e) => `${e.level} ${e.message}`),
        otherLines: lines.filter((e) => !isFilterLine(e)).map((e) => `${e.level} ${e.message}`),
      };
    },
    async close() {
      await gateway.close();
      await upstream.close();
    },
  };
}
