// Headers around the filter chain as Envoy's HTTP/1 codec, connection manager and router make
// them (one listener, use_remote_address false, as envoy.yaml has it):
// - request: source/common/http/http1/codec_impl.cc (names lowercased, Host is :authority,
//   transfer-encoding consumed, trailers dropped), source/common/http/utility.cc
//   sanitizeConnectionHeader, source/common/http/conn_manager_utility.cc mutateRequestHeaders
//   (hop-by-hop and Envoy-internal headers removed, x-forwarded-proto and x-request-id added when
//   absent), and the 100-continue the connection manager answers itself;
// - response: source/common/router/router.cc (x-envoy-upstream-service-time),
//   source/common/http/conn_manager_impl.cc ActiveStream::encodeHeaders (date when absent,
//   server, hop-by-hop removed, connection: close when the connection is closing);
// - framing on both wires: codec_impl.cc encodeHeadersBase, with
//   source/common/http/header_utility.cc requestShouldHaveNoBody.
import { randomUUID } from "node:crypto";
import type { HeaderList } from "./host";
import { HeaderMap } from "./host/headers";

export function pairs(raw: string[]): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i].toLowerCase(), raw[i + 1]]);
  return out;
}

export function get(headers: HeaderList, name: string): string | undefined {
  return headers.find(([k]) => k === name)?.[1];
}

const has = (headers: HeaderList, name: string) => headers.some(([k]) => k === name);
const without = (headers: HeaderList, names: Set<string>) => headers.filter(([k]) => !names.has(k));

/** Removed from every request before the filters: hop-by-hop, and what only Envoy may set
 *  (x-forwarded-client-cert: forward_client_cert_details sanitizes it without mutual TLS). */
const REQUEST_STRIPPED = new Set([
  "connection", "upgrade", "keep-alive", "proxy-connection", "transfer-encoding", "x-envoy-internal", "x-forwarded-client-cert",
]);

/** x-envoy-* request headers that steer Envoy itself, removed from an external request. With
 *  use_remote_address off a request is internal only when X-Forwarded-For names one internal
 *  address, and Envoy 1.40 counts no address as internal unless internal_address_config lists
 *  it (measured: 10.0.0.1 and 127.0.0.1 are external), so every request is external here. */
const ENVOY_CONTROL_HEADERS = new Set([
  "x-envoy-retriable-status-codes", "x-envoy-retriable-header-names", "x-envoy-retry-on", "x-envoy-retry-grpc-on",
  "x-envoy-max-retries", "x-envoy-upstream-alt-stat-name", "x-envoy-upstream-rq-timeout-ms",
  "x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-upstream-rq-timeout-alt-response", "x-envoy-expected-rq-timeout-ms",
  "x-envoy-force-trace", "x-envoy-ip-tags", "x-envoy-original-url", "x-envoy-hedge-on-per-try-timeout",
]);

/** Tokens of Connection that name no header. */
const CONNECTION_OPTIONS = new Set(["close", "keep-alive", "upgrade", "http2-settings"]);

/** A request Envoy answers itself before any filter runs. */
export class RequestRejected extends Error {
  constructor(readonly status: number, readonly details: string, readonly body = "") {
    super(details);
  }
}

/** Utility::sanitizeConnectionHeader: headers the Connection header nominates are removed;
 *  nominating a forwarding header, a pseudo-header or ten or more is refused; a nominated TE
 *  survives only as "trailers". */
function sanitizeConnection(headers: HeaderList): HeaderList {
  const value = get(headers, "connection");
  if (value === undefined) return headers;
  const tokens = value.split(",").map((t) => t.trim().toLowerCase()).filter((t) => t !== "");
  if (tokens.length >= 10) throw new RequestRejected(400, "http1.connection_header_rejected");
  let out = headers;
  for (const token of tokens) {
    if (CONNECTION_OPTIONS.has(token) || token === "connection") continue;
    if (["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"].includes(token) || token.startsWith(":")) {
      throw new RequestRejected(400, "http1.connection_header_rejected");
    }
    if (token === "te" && get(out, "te")?.split(",").some((t) => t.trim().toLowerCase() === "trailers")) {
      out = out.map(([k, v]): [string, string] => [k, k === "te" ? "trailers" : v]);
    } else {
      out = out.filter(([k]) => k !== token);
    }
  }
  return out;
}

/** TE survives only as "trailers" (the only transfer coding a proxy may pass on), else it goes
 *  (measured on Envoy 1.40: "trailers, gzip" is forwarded as "trailers", "gzip" not at all). */
function sanitizeTe(headers: HeaderList): HeaderList {
  const at = headers.findIndex(([k]) => k === "te");
  if (at < 0) return headers;
  const trailers = headers[at][1].split(",").some((t) => t.trim().toLowerCase() === "trailers");
  return headers.flatMap(([k, v], i): HeaderList => (k !== "te" ? [[k, v]] : i === at && trailers ? [["te", "trailers"]] : []));
}

/** Utility::isUpgrade; the HTTP/1 codec drops an h2c upgrade before anything sees it. */
export function isUpgrade(headers: HeaderList): boolean {
  const upgrade = get(headers, "upgrade");
  return upgrade !== undefined && upgrade.toLowerCase() !== "h2c"
    && (get(headers, "connection") ?? "").split(",").some((t) => t.trim().toLowerCase() === "upgrade");
}

export interface ClientHead { rawHeaders: string[]; method: string; httpVersion: string }

/**
 * Envoy's header map as the HTTP/1 codec builds it while parsing: Host becomes :authority, a
 * repeated inline header (Connection, TE, Host, Accept, ...) joins into its first entry, and
 * the Connection header is sanitized. RequestRejected for what the codec refuses: HTTP/1.0
 * (accept_http_10 is off), more headers than max_headers_count, a Connection header that
 * nominates what it may not.
 */
export function decodeHead(client: ClientHead, limits: { maxHeaders: number }): HeaderList {
  if (client.httpVersion !== "1.1") throw new RequestRejected(426, "http1.upgrade_required", "Upgrade Required");
  if (client.rawHeaders.length / 2 > limits.maxHeaders) throw new RequestRejected(431, "http1.too_many_headers");
  return sanitizeTe(sanitizeConnection(HeaderMap.from(pairs(client.rawHeaders), "request").toList()));
}

/**
 * The request header map the filter sees: the connection manager's changes to the decoded
 * head, with the prepared :path. RequestRejected for what it refuses: a request without Host,
 * an upgrade to a path a route matches (neither the route nor the connection manager has
 * upgrade_configs; measured: without a route the filters run and the router answers 404).
 */
export function filterRequestHeaders(decoded: HeaderList, method: string, path: { prepare(): string; routed(path: string): boolean }): HeaderList {
  const authority = get(decoded, ":authority");
  if (authority === undefined) throw new RequestRejected(400, "missing_host_header");
  const prepared = path.prepare();
  if (isUpgrade(decoded) && path.routed(prepared)) throw new RequestRejected(403, "upgrade_failed");
  const rest = without(decoded, REQUEST_STRIPPED).filter(([k, v]) => !k.startsWith(":") && !ENVOY_CONTROL_HEADERS.has(k)
    // The connection manager answered a 100-continue expectation itself; any other goes on.
    && !(k === "expect" && expects100Continue(v)));
  const out: HeaderList = [[":authority", authority], [":path", prepared], [":method", method], [":scheme", "http"], ...rest];
  if (!has(rest, "x-forwarded-proto")) out.push(["x-forwarded-proto", "http"]);
  if (!has(rest, "x-request-id")) out.push(["x-request-id", randomUUID()]);
  return out;
}

export function expects100Continue(value: string | undefined): boolean {
  return value !== undefined && value.toLowerCase() === "100-continue";
}

/** The client asked to close the connection after this exchange (Connection: close, or
 *  HTTP/1.0 without keep-alive). */
export function asksToClose(client: ClientHead): boolean {
  const tokens = pairs(client.rawHeaders).filter(([k]) => k === "connection").flatMap(([, v]) => v.split(",").map((t) => t.trim().toLowerCase()));
  return tokens.includes("close") || (client.httpVersion === "1.0" && !tokens.includes("keep-alive"));
}

const BODILESS_METHODS = new Set(["GET", "HEAD", "DELETE", "TRACE", "CONNECT"]);

/** What a head on the wire carries after the header map: an explicit "content-length: 0" for a
 *  headers-only message, else "transfer-encoding: chunked", unless the map has a length or the
 *  message may have no body. */
function framing(headers: HeaderList, endStream: boolean, opts: { status?: number; headRequest?: boolean; bodilessRequest?: boolean }): HeaderList {
  if (has(headers, "content-length")) return [];
  const s = opts.status;
  if (s !== undefined && (s < 200 || s === 204 || s === 304)) return [];
  if (endStream && !opts.headRequest) return s !== undefined || !opts.bodilessRequest ? [["content-length", "0"]] : [];
  return [["transfer-encoding", "chunked"]];
}

export interface WireHead {
  /** Header names and values in order, in Node's flat form; framing included. */
  flat: string[];
  /** The body goes chunked. */
  chunked: boolean;
}

function toWire(headers: HeaderList, frame: HeaderList): WireHead {
  const flat: string[] = [];
  for (const [k, v] of [...headers, ...frame]) flat.push(k, v);
  return { flat, chunked: frame.some(([k]) => k === "transfer-encoding") };
}

/** The request head the router sends upstream: Host (from :authority) first, then the map in order. */
export function upstreamRequestHead(released: HeaderList, endStream: boolean): WireHead & { method: string; path: string } {
  const method = get(released, ":method") ?? "GET";
  const authority = get(released, ":authority");
  const headers: HeaderList = [...(authority !== undefined && authority !== "" ? [["host", authority] as [string, string]] : []), ...released.filter(([k]) => !k.startsWith(":"))];
  return { method, path: get(released, ":path") ?? "/", ...toWire(headers, framing(headers, endStream, { bodilessRequest: BODILESS_METHODS.has(method) })) };
}

/** Response headers from the upstream as the filter sees them: the codec consumed the framing,
 *  and the router says how long the upstream took. */
export function filterResponseHeaders(status: number, rawHeaders: string[], upstreamMs: number): HeaderList {
  const headers = HeaderMap.from(pairs(rawHeaders), "response").toList().filter(([k]) => k !== "transfer-encoding");
  const out: HeaderList = [[":status", String(status)], ...headers];
  return setHeader(out, "x-envoy-upstream-service-time", String(upstreamMs));
}

/** setReference*: the first entry's value replaced in place, or one appended. */
function setHeader(headers: HeaderList, name: string, value: string): HeaderList {
  const at = headers.findIndex(([k]) => k === name);
  if (at < 0) return [...headers, [name, value]];
  return headers.filter(([k], i) => k !== name || i === at).map(([k, v], i): [string, string] => [k, i === at ? value : v]);
}

const RESPONSE_HOP_BY_HOP = new Set(["connection", "transfer-encoding", "keep-alive", "proxy-connection", "upgrade"]);

export interface ResponseContext {
  /** The request was a HEAD: the codec frames no body. */
  headRequest: boolean;
  /** The connection closes after this response: the head says so. */
  closing: boolean;
  serverName: string;
}

/** The response head the client gets, after the filter released `released`. */
export function downstreamResponseHead(released: HeaderList, endStream: boolean, ctx: ResponseContext): WireHead & { status: number } {
  const status = Number(get(released, ":status") ?? "502");
  let headers = released.filter(([k]) => !k.startsWith(":"));
  if (!has(headers, "date")) headers.push(["date", new Date().toUTCString()]);
  headers = without(setHeader(headers, "server", ctx.serverName), RESPONSE_HOP_BY_HOP);
  if (ctx.closing) headers.push(["connection", "close"]);
  return { status, ...toWire(headers, framing(headers, endStream, { status, headRequest: ctx.headRequest })) };
}
