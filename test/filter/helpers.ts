// Drives the real filter build through the host emulator, as Envoy's filter chain would.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ProxyWasmHost, HttpContext, HeaderList, HostOptions, LocalReply } from "../../filter/host";

export const WASM_PATH = path.join(__dirname, "..", "..", "filter", "build", "mcp_filter.wasm");

/** The default stack policy shape, with a per-user rule for the tests. */
export const POLICY = {
  defaultAction: "allow",
  userHeader: "x-user-id",
  rules: [
    { name: "deny-risky-tools", action: "deny", tools: ["get-env", "gzip-*"] },
    { name: "sum-for-alice", action: "allow", tools: ["get-sum"], users: ["alice"] },
    { name: "no-sum-for-others", action: "deny", tools: ["get-sum"] },
  ],
};

let wasmBytes: Buffer | undefined;
export function wasm(): Buffer {
  // A missing build is a failure, never a skip: `npm test` builds it first.
  if (!wasmBytes) {
    assert.ok(fs.existsSync(WASM_PATH), `missing ${WASM_PATH}: run npm run build:filter`);
    wasmBytes = fs.readFileSync(WASM_PATH);
  }
  return wasmBytes;
}

export function startHost(config: unknown = POLICY, options: HostOptions = {}): ProxyWasmHost {
  const pluginConfig = typeof config === "string" ? config : JSON.stringify(config);
  const host = ProxyWasmHost.load(wasm(), { allowOnHeadersStopIteration: true, logLevel: "info", ...options, pluginConfig });
  const ok = host.start();
  assert.ok(ok, "filter refused its configuration: " + host.logs().map((l) => l.message).join("\n"));
  return host;
}

export interface Exchange {
  ctx: HttpContext;
  reply?: LocalReply;
  /** The parsed JSON body of the local reply, if any. */
  json?: any;
  forwarded: boolean;
  upstreamBody: string;
}

export function requestHeaders(extra: HeaderList = [], method = "POST"): HeaderList {
  const base: HeaderList = [[":method", method], [":path", "/mcp"], [":authority", "gateway"], [":scheme", "http"]];
  if (method === "POST") base.push(["content-type", "application/json"], ["accept", "application/json, text/event-stream"]);
  return [...base, ...extra];
}

/** Sends a POST body in the given chunks (default: one). */
export function post(host: ProxyWasmHost, body: string | Buffer, opts: { headers?: HeaderList; chunks?: number[]; replaceHeaders?: HeaderList } = {}): Exchange {
  const buf = typeof body === "string" ? Buffer.from(body) : body;
  const ctx = host.newHttpContext();
  const headers = opts.replaceHeaders ?? requestHeaders(opts.headers);
  ctx.requestHeaders(headers, buf.length === 0);
  const cuts = [0, ...(opts.chunks ?? []), buf.length];
  for (let i = 1; i < cuts.length && buf.length > 0; i++) {
    if (ctx.localReply) break;
    ctx.requestBody(buf.subarray(cuts[i - 1], cuts[i]), i === cuts.length - 1);
  }
  return exchange(ctx);
}

export function exchange(ctx: HttpContext): Exchange {
  const reply = ctx.localReply;
  let json: any;
  if (reply && reply.body.length > 0) json = JSON.parse(reply.body.toString("utf8"));
  return { ctx, reply, json, forwarded: ctx.upstream.ended && !reply, upstreamBody: ctx.upstream.body.toString("utf8") };
}

export function call(tool: string, id: number | string = 1, args: unknown = {}): string {
  return JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: tool, arguments: args } });
}

export function header(list: HeaderList | undefined, name: string): string | undefined {
  return list?.find(([k]) => k === name)?.[1];
}

/** Audit lines (parsed) the filter has logged so far. */
export function audits(host: ProxyWasmHost): any[] {
  return host.logs("info").map((l) => l.message).filter((m) => m.startsWith("{\"audit\"")).map((m) => JSON.parse(m));
}

/** Sends a response through a context whose request was forwarded; returns what the client got. */
export function respond(ctx: HttpContext, headers: HeaderList, body: string | Buffer, chunks: number[] = []): string {
  const buf = typeof body === "string" ? Buffer.from(body) : body;
  ctx.responseHeaders(headers, buf.length === 0);
  const cuts = [0, ...chunks, buf.length];
  for (let i = 1; i < cuts.length && buf.length > 0; i++) ctx.responseBody(buf.subarray(cuts[i - 1], cuts[i]), i === cuts.length - 1);
  return ctx.downstream.body.toString("utf8");
}
