// Generated HTTP/1.1 requests for the differential test, as bytes and the slices they are
// written in: MCP bodies (allowed and denied calls, escapes, duplicate keys, batches, fuzz
// bodies, BOM, invalid UTF-8), their headers and framings, other methods and paths. Everything
// comes from the caller's seeded PRNG, so a seed replays a run.
import { call } from "../filter/helpers";
import { fuzzBody, mutate, pick, randomJson } from "../filter/corpus";
import type { Reply } from "./differential-rig";
import { GATEWAY_AUTH, GATEWAY_KEY } from "./stack";

const [[KEY_HEADER]] = Object.entries(GATEWAY_AUTH);

/** The policy both engines run: per-user, prompt, resource and method rules, tools hidden. */
export const DIFF_POLICY = {
  defaultAction: "allow",
  userHeader: "x-user-id",
  hideDeniedTools: true,
  maxBodyBytes: 256 * 1024,
  mode: "enforce",
  rules: [
    { name: "deny-risky-tools", action: "deny", tools: ["get-env", "gzip-*"] },
    { name: "sum-for-alice", action: "allow", tools: ["get-sum"], users: ["alice"] },
    { name: "no-sum-for-others", action: "deny", tools: ["get-sum"] },
    { name: "no-secret-prompts", action: "deny", prompts: ["secret-*"] },
    { name: "no-private-files", action: "deny", resources: ["file:///private/*"] },
    { name: "no-log-level", action: "deny", methods: ["logging/setLevel"] },
  ],
};

export interface GeneratedRequest {
  /** What the generator meant to send, for the failure message. */
  kind: string;
  method: string;
  /** The request bytes, in the slices they are written in. */
  slices: Buffer[];
  /** The client sent an x-request-id of its own (else each engine makes one up). */
  clientRequestId: boolean;
}

type R = () => number;
type Header = [string, string];

const TOOL_NAMES = ["echo", "get-env", "get-sum", "gzip-file-as-resource", "trigger-long-running-operation", "annotated-message"];

function int(r: R, n: number): number {
  return Math.floor(r() * n);
}

/** A single MCP message the policy judges. */
function message(r: R, id: number | string): string {
  switch (int(r, 9)) {
    case 0: return JSON.stringify({ jsonrpc: "2.0", id, method: "tools/list", params: {} });
    case 1: return JSON.stringify({ jsonrpc: "2.0", id, method: "prompts/get", params: { name: pick(r, ["simple", "secret-plan"]) } });
    case 2: return JSON.stringify({ jsonrpc: "2.0", id, method: "resources/read", params: { uri: pick(r, ["file:///public/a", "file:///private/key"]) } });
    case 3: return JSON.stringify({ jsonrpc: "2.0", id, method: pick(r, ["logging/setLevel", "ping", "initialize", "completion/complete"]), params: { level: "info" } });
    case 4: return JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" });
    default: return call(pick(r, TOOL_NAMES), id, { message: pick(r, ["hi", "h\u00e9llo \"w\"", "\u2603", "a\\b"]) });
  }
}

/** Bodies with the tricks the filter must read as the server does. */
function trickyBody(r: R): string {
  switch (int(r, 6)) {
    case 0: return '{"jsonrpc":"2.0","id":3,"method":"tools\\/call","params":{"name":"\\u0067et-env","arguments":{}}}';
    case 1: return '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"get-env"}}';
    case 2: return '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get-env"},"params":{"name":"echo"}}';
    case 3: return '{"jsonrpc":"2.0","id":1,"m\\u0065thod":"tools/call","params":{"name":"get\\u002denv"}}';
    case 4: return '{"jsonrpc":"2.0","id":[1],"method":"tools/call","params":{"name":"echo"}}';
    default: return '{"jsonrpc":"1.0","id":1,"method":"tools/list"}';
  }
}

function batch(r: R): string {
  const n = int(r, 5);
  return "[" + Array.from({ length: n }, (_, i) => message(r, 100 + i)).join(",") + "]";
}

/** A JSON-RPC body (Buffer: some are not UTF-8) and how the upstream should answer it. */
function mcpBody(r: R): { kind: string; body: Buffer; reply: Reply } {
  const k = int(r, 100);
  if (k < 30) {
    const text = message(r, pick(r, [1, 7, "abc", 0]));
    const list = text.includes("tools/list");
    return { kind: list ? "tools/list" : "message", body: Buffer.from(text), reply: list ? pick(r, ["tools-json", "tools-sse", "tools-sse-bom", "tools-gzip", "tools-text", "error-500"] as const) : pick(r, ["json", "sse", "json-chunked", "accepted", "session-404", "trailers", "reset", "odd-headers"] as const) };
  }
  if (k < 40) return { kind: "escapes and duplicate keys", body: Buffer.from(trickyBody(r)), reply: "json" };
  if (k < 52) return { kind: "batch", body: Buffer.from(batch(r)), reply: pick(r, ["json", "accepted", "tools-json"] as const) };
  if (k < 75) return { kind: "fuzz body", body: fuzzBody(r), reply: "json" };
  if (k < 80) return { kind: "random JSON", body: Buffer.from(randomJson(r)), reply: "json" };
  if (k < 85) return { kind: "BOM", body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(message(r, 9))]), reply: "json" };
  if (k < 90) {
    const text = Buffer.from(call(pick(r, TOOL_NAMES), 5, { s: "\u00e9" }));
    return { kind: "invalid UTF-8", body: mutate(r, Buffer.concat([text.subarray(0, text.length - 4), Buffer.from([pick(r, [0xff, 0xc3, 0xed, 0x80])]), text.subarray(text.length - 4)])), reply: "json" };
  }
  if (k < 93) return { kind: "empty body", body: Buffer.alloc(0), reply: "json" };
  if (k < 96) return { kind: "tools/list with a big answer", body: Buffer.from(message(r, 1).replace(/"method":"[^"]*"/, '"method":"tools/list"')), reply: pick(r, ["big-tools", "large-tools"] as const) };
  return { kind: "string-heavy call", body: Buffer.from(call("echo", 2, { data: "x".repeat(1000 + int(r, DIFF_POLICY.maxBodyBytes - 2000)) })), reply: "json" };
}

function randomCase(r: R, name: string): string {
  if (r() < 0.7) return name;
  return name.split("").map((c) => (r() < 0.5 ? c.toUpperCase() : c)).join("");
}

const PATHS = [
  "/mcp", "/mcp/", "/mcp/x", "/mcp?x=1", "/mcpx", "/", "/other", "//mcp", "/a/../mcp", "/mcp/./x", "/MCP", "/mcp%2Fx", "/%6Dcp",
  "/mcp#frag", "/mcp/%41%7e%2D", '/mcp/"q"', "/mcp/{a}|^`", "/mcp\\x", "/mcp/%2e%2e/mcp", "/mcp/a%5cb", "/mcp/%00", "/mcp;x",
  "/mcp/..", "/mcp/.%2E", "/mcp/%zz%3f?a=/../b//c", "///mcp//x//",
];

/** The request line's target: /mcp mostly. */
function target(r: R): string {
  return r() < 0.85 ? "/mcp" : pick(r, PATHS);
}

/** Headers an MCP client sends, and some it should not. */
function mcpHeaders(r: R, reply: Reply): Header[] {
  const h: Header[] = [["host", pick(r, ["gateway", "127.0.0.1:10000", "envoy:10000"])]];
  // The gateway key, as LibreChat sends it, and now and then missing, wrong, or sent twice.
  const key = r();
  if (key < 0.88) h.push([KEY_HEADER, GATEWAY_KEY]);
  else if (key < 0.91) h.push([KEY_HEADER, `${GATEWAY_KEY}x`]);
  else if (key < 0.93) h.push([KEY_HEADER, "wrong"], [KEY_HEADER, GATEWAY_KEY]);
  else if (key < 0.95) h.push([KEY_HEADER, GATEWAY_KEY], [KEY_HEADER, "wrong"]);
  else if (key < 0.97) h.push([KEY_HEADER, `Bearer ${GATEWAY_KEY}`]);
  else if (key < 0.98) h.push([KEY_HEADER, `bearer ${GATEWAY_KEY}`]);
  if (r() < 0.9) h.push(["accept", "application/json, text/event-stream"]);
  const user = int(r, 6);
  if (user === 1) h.push(["x-user-id", "alice"]);
  else if (user === 2) h.push(["x-user-id", "bob"]);
  else if (user === 3) h.push(["x-user-id", "alice"], ["x-user-id", "bob"]);
  if (r() < 0.4) h.push(["mcp-session-id", pick(r, ["s-1", "3f0c-\u00e9", "a\tb"])]);
  if (r() < 0.4) h.push(["mcp-protocol-version", "2025-06-18"]);
  if (r() < 0.1) h.push(["x-mcp-method", "forged"]);
  if (r() < 0.1) h.push(["x-mcp-tool", "echo"]);
  if (r() < 0.15) h.push(["accept-encoding", pick(r, ["gzip", "gzip, br", "identity"])]);
  if (r() < 0.1) h.push(["x-request-id", `client-${int(r, 1000)}`]);
  if (r() < 0.1) h.push(["x-forwarded-proto", pick(r, ["https", "http"])]);
  if (r() < 0.1) h.push(["x-forwarded-for", "203.0.113.9"]);
  if (r() < 0.1) h.push(["user-agent", "node"]);
  if (r() < 0.05) h.push(["x-custom", "1"], ["x-custom", "2"]);
  if (r() < 0.05) h.push(["connection", pick(r, ["close", "keep-alive"])]);
  h.push(["x-test-reply", reply]);
  return h;
}

function contentType(r: R): Header[] {
  const k = int(r, 20);
  if (k < 14) return [["content-type", "application/json"]];
  return [
    [["content-type", "application/json; charset=utf-8"]],
    [["content-type", "Application/JSON"]],
    [["content-type", "text/plain"]],
    [["content-type", "application/json; charset=latin1"]],
    [["content-type", "application/json"], ["content-type", "text/plain"]],
    [],
  ][k - 14] as Header[];
}

interface Shape {
  kind: string; method: string; target: string; headers: Header[]; body: Buffer; framing: "length" | "chunked" | "none";
  version?: string; trailers?: Header[];
}

/** What HTTP allows and a proxy must handle with care: hop-by-hop and Envoy's own headers,
 *  repeated and padded values, upgrades, large heads, HTTP/1.0, request trailers. */
const EDGES: Array<(s: Shape, r: R) => string> = [
  (s, r) => { s.headers.push(["te", pick(r, ["trailers", "gzip", "trailers, deflate"])]); return "te"; },
  (s, r) => { const n = pick(r, ["x-custom", "te", "x-forwarded-for", "keep-alive, x-custom"]); s.headers.push(["connection", n], ["x-custom", "1"], ["te", "trailers, gzip"]); return `connection: ${n}`; },
  (s, r) => { s.headers.push([pick(r, ["x-forwarded-client-cert", "x-envoy-retry-on", "x-envoy-upstream-rq-timeout-ms", "x-envoy-internal", "x-envoy-original-path", "x-envoy-expected-rq-timeout-ms", "x-envoy-max-retries", "x-envoy-attempt-count"]), "1"]); return "an x-envoy header"; },
  (s, r) => { s.headers.push(["x-forwarded-for", pick(r, ["10.0.0.1", "127.0.0.1", "203.0.113.9, 10.0.0.2"])]); return "x-forwarded-for"; },
  (s, r) => {
    const k = pick(r, ["user-agent", "x-forwarded-proto", "host", "accept", "x-request-id", "content-encoding", "accept-encoding", "mcp-session-id", "cache-control"]);
    s.headers.push([k, "one"], [k, "two"]);
    return `${k} twice`;
  },
  (s) => { for (let i = 0; i < 101; i++) s.headers.push([`x-h${i}`, "1"]); return "more than 100 headers"; },
  (s) => { s.headers.push(["x-pad", "  v  "], ["x-empty", ""]); return "padded and empty values"; },
  (s) => { s.headers.push(["proxy-connection", "keep-alive"], ["keep-alive", "timeout=5"], ["upgrade", "websocket"]); return "hop-by-hop headers"; },
  (s, r) => {
    // Not on a POST: a POST's filter waits for the end of its body, and an upgraded stream
    // (websocket) never ends, so both engines would hold it until the idle timeout.
    const up = s.method === "POST" ? "h2c" : pick(r, ["websocket", "h2c"]);
    s.headers.push(["connection", "upgrade"], ["upgrade", up]);
    return `upgrade ${up}`;
  },
  (s, r) => { const n = pick(r, [30_000, 70_000]); s.headers.push(["x-big", "a".repeat(n)]); return `a ${n}-byte header`; },
  (s) => { s.headers = s.headers.filter(([k]) => k !== "host"); return "no host"; },
  (s) => { s.version = "1.0"; return "HTTP/1.0"; },
  (s) => { if (s.framing !== "chunked") return "no trailers (not chunked)"; s.trailers = [["x-trailer", "1"]]; return "request trailers"; },
  (s) => { if (s.framing !== "length") return "one length (not sized)"; s.headers.push(["content-length", String(s.body.length)]); return "content-length twice"; },
];

function postShape(r: R): Shape {
  const { kind, body: b, reply } = mcpBody(r);
  let body = b;
  const headers = [...mcpHeaders(r, reply), ...contentType(r)];
  let what = kind;
  const extra = int(r, 40);
  if (extra === 0) { headers.push(["content-encoding", pick(r, ["gzip", "identity", "br"])]); what += ", content-encoding"; }
  if (extra === 1) { const e = pick(r, ["100-continue", "100-Continue", "something-else"]); headers.push(["expect", e]); what += `, expect ${e}`; }
  // Over maxBodyBytes with its length declared: refused at the headers. A streamed body over a
  // limit is not sent: the size at which either engine finds it too large, and whether Envoy's
  // own 2 MiB buffer limit or the filter's comes first, depends on how the bytes were read.
  if (extra === 2) {
    body = Buffer.concat([body, Buffer.alloc(DIFF_POLICY.maxBodyBytes + int(r, 65536), 0x20)]);
    return { kind: `${what}, over maxBodyBytes`, method: "POST", target: target(r), headers, body, framing: "length" };
  }
  return { kind: what, method: "POST", target: target(r), headers, body, framing: r() < 0.7 ? "length" : "chunked" };
}

function otherShape(r: R): Shape {
  const method = pick(r, ["GET", "GET", "GET", "DELETE", "DELETE", "HEAD", "OPTIONS", "PUT"]);
  const resumed = method === "GET" && r() < 0.4;
  const reply: Reply = resumed ? pick(r, ["tools-sse", "tools-sse-bom", "sse"] as const) : pick(r, ["sse", "json", "session-404", "accepted", "no-content"] as const);
  const headers = mcpHeaders(r, reply);
  if (resumed) headers.push(["last-event-id", String(int(r, 10))]);
  const body = method === "PUT" ? Buffer.from(call("get-env", 1)) : Buffer.alloc(0);
  return { kind: `${method}${resumed ? " resuming a stream" : ""}`, method, target: target(r), headers, body, framing: method === "PUT" ? "length" : "none" };
}

/** Chunk sizes for a chunked body: one chunk, or many random ones. */
function chunked(r: R, body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  const one = r() < 0.3;
  while (at < body.length) {
    const n = one ? body.length : 1 + int(r, Math.min(body.length - at, r() < 0.5 ? 16 : 65536));
    parts.push(Buffer.from(`${n.toString(16)}\r\n`), body.subarray(at, at + n), Buffer.from("\r\n"));
    at += n;
  }
  parts.push(Buffer.from("0\r\n\r\n"));
  return Buffer.concat(parts);
}

function chunkedWithTrailers(r: R, body: Buffer, trailers: Header[] = []): Buffer {
  const framed = chunked(r, body);
  if (trailers.length === 0) return framed;
  return Buffer.concat([framed.subarray(0, framed.length - 2), Buffer.from(trailers.map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n")]);
}

function serialize(r: R, s: Shape): Buffer {
  const headers = s.headers.map(([k, v]): Header => [randomCase(r, k), v]);
  if (s.framing === "length") headers.push([randomCase(r, "content-length"), String(s.body.length)]);
  if (s.framing === "chunked") headers.push([randomCase(r, "transfer-encoding"), "chunked"]);
  // Header order varies too: a gateway must keep the client's order.
  if (r() < 0.3) headers.sort(() => r() - 0.5);
  const head = `${s.method} ${s.target} HTTP/${s.version ?? "1.1"}\r\n${headers.map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\n\r\n`;
  const body = s.framing === "chunked" ? chunkedWithTrailers(r, s.body, s.trailers) : s.body;
  return Buffer.concat([Buffer.from(head, "latin1"), body]);
}

/** Cut points: none, a few anywhere (headers too), or many small slices. */
function slice(r: R, bytes: Buffer): Buffer[] {
  const k = int(r, 4);
  if (k === 0 || bytes.length < 2) return [bytes];
  const count = k === 3 ? Math.min(64, bytes.length - 1) : 1 + int(r, 4);
  const cuts = new Set<number>();
  while (cuts.size < count) cuts.add(1 + int(r, bytes.length - 1));
  const sorted = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
  return sorted.slice(1).map((end, i) => bytes.subarray(sorted[i], end));
}

export function generateRequest(r: R): GeneratedRequest {
  const shape = r() < 0.8 ? postShape(r) : otherShape(r);
  if (r() < 0.15) shape.kind += `, ${pick(r, EDGES)(shape, r)}`;
  const bytes = serialize(r, shape);
  return {
    kind: `${shape.method} ${shape.target}: ${shape.kind}, ${shape.framing}`,
    method: shape.method,
    slices: slice(r, bytes),
    clientRequestId: shape.headers.some(([k]) => k.toLowerCase() === "x-request-id"),
  };
}
