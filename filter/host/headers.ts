// Envoy's header maps (source/common/http/header_map_impl.cc) as the wasm ABI sees them:
// - keys are lowercased, ASCII only (Http::LowerCaseString);
// - adding a key that is one of Envoy's O(1) "inline" headers when it is already present
//   appends ",value" to the existing entry (insertByKey -> appendToHeader); any other key
//   adds a separate entry, so repeated headers stay repeated;
// - replace (setCopy, what proxy_replace_header_map_value calls) removes every entry of the key
//   and adds the new one at the end (pseudo-headers: at the end of the pseudo-headers);
// - set (the inline setters such as setContentLength) changes the first entry in place;
// - remove drops every entry; get returns the first entry (the wasm ABI has no way to
//   return several values, Envoy context.cc getHeaderMapValue returns entry[0]);
// - "host" in a request map is the :authority entry (StaticLookupTable legacy alias);
// - pseudo-headers (":...") are kept in front of all other headers (HeaderList::insert).
// Strings hold one char per byte (latin1), as Node's http module hands header values over.

export type HeaderList = Array<[string, string]>;
export type HeaderMapKind = "request" | "request-trailers" | "response" | "response-trailers";

// Header names from source/common/http/headers.h for INLINE_REQ_HEADERS, INLINE_REQ_RESP_HEADERS,
// INLINE_RESP_HEADERS and INLINE_RESP_HEADERS_TRAILERS (envoy/http/header_map.h), plus the
// custom inline headers that extensions compiled into the official Envoy build register
// (CustomInlineHeaderRegistry): those of the pinned release, measured by sending each name twice
// through it (the cors, cache, compressor and grpc filters register most of them).
const REQ_RESP = [
  "content-length", "x-envoy-attempt-count", "connection", "content-type", "x-envoy-decorator-operation",
  "keep-alive", "proxy-connection", "proxy-status", "x-request-id", "transfer-encoding", "upgrade", "via",
];
const REQ = [
  "x-envoy-expected-rq-timeout-ms", "x-envoy-max-retries", "x-envoy-upstream-rq-timeout-ms",
  "x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-upstream-stream-duration-ms", "x-client-trace-id",
  "x-envoy-downstream-service-cluster", "x-envoy-downstream-service-node", "x-envoy-external-address",
  "x-envoy-force-trace", "x-envoy-hedge-on-per-try-timeout", "x-envoy-internal", "x-envoy-ip-tags",
  "x-envoy-retry-on", "x-envoy-retry-grpc-on", "x-envoy-retriable-status-codes", "x-envoy-retriable-header-names",
  "x-envoy-original-path", "x-envoy-original-url", "x-envoy-upstream-alt-stat-name",
  "x-envoy-upstream-rq-timeout-alt-response", "expect", "x-forwarded-client-cert", "x-forwarded-for",
  "x-forwarded-host", "x-forwarded-proto", "grpc-timeout", ":authority", ":method", ":path", ":protocol",
  ":scheme", "te", "user-agent",
];
const REQ_CUSTOM = [
  "accept", "accept-encoding", "authorization", "cache-control", "origin", "referer", "content-encoding", "if-none-match",
  "if-match", "if-modified-since", "if-unmodified-since", "if-range", "pragma", "access-control-request-method",
  "access-control-request-headers", "grpc-accept-encoding", "x-forwarded-port",
];
const RESP_CUSTOM = [
  "cache-control", "content-encoding", "etag", "vary", "age", "expires", "last-modified", "access-control-allow-origin",
  "access-control-allow-credentials", "access-control-allow-headers", "access-control-allow-methods",
  "access-control-expose-headers", "access-control-max-age",
];
const RESP_TRAILERS = ["grpc-status", "grpc-message"];
const RESP = [
  "x-envoy-upstream-service-time", ":status", "date", "x-envoy-degraded", "x-envoy-immediate-health-check-fail",
  "x-envoy-ratelimited", "x-envoy-upstream-canary", "x-envoy-upstream-healthchecked-cluster", "location", "server",
];
const INLINE: Record<HeaderMapKind, ReadonlySet<string>> = {
  request: new Set([...REQ, ...REQ_RESP, ...REQ_CUSTOM]),
  "request-trailers": new Set(),
  response: new Set([...RESP, ...REQ_RESP, ...RESP_TRAILERS, ...RESP_CUSTOM]),
  "response-trailers": new Set(RESP_TRAILERS),
};

/** ASCII-only lowercase, as absl::AsciiStrToLower: Latin-1 letters above 0x7f keep their case. */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

export class HeaderMap {
  /** The entries in order; pseudo-headers always form a prefix (see add). */
  private entries: HeaderList = [];

  /** An empty map; see from() for a map of a header list. */
  constructor(readonly kind: HeaderMapKind) {}

  /** The map a codec builds from `list`, adding its headers one by one. */
  static from(list: HeaderList, kind: HeaderMapKind): HeaderMap {
    const m = new HeaderMap(kind);
    for (const [k, v] of list) m.add(k, v);
    return m;
  }

  /** LowerCaseString, with the request map's "host" alias resolved to ":authority". */
  private keyOf(raw: string): string {
    const key = asciiLower(raw);
    return key === "host" && this.kind === "request" ? ":authority" : key;
  }

  get size(): number {
    return this.entries.length;
  }

  /** HeaderMap::byteSize(): sum of key and value lengths. */
  byteSize(): number {
    return this.entries.reduce((n, [k, v]) => n + k.length + v.length, 0);
  }

  get(key: string): string | undefined {
    const k = this.keyOf(key);
    return this.entries.find((e) => e[0] === k)?.[1];
  }

  /** All values of a key, in order. */
  getAll(key: string): string[] {
    const k = this.keyOf(key);
    return this.entries.filter((e) => e[0] === k).map((e) => e[1]);
  }

  /** HeaderMapImpl::addCopy (insertByKey). */
  add(key: string, value: string): void {
    const k = this.keyOf(key);
    const existing = INLINE[this.kind].has(k) ? this.entries.find((e) => e[0] === k) : undefined;
    if (existing) {
      if (value.length > 0) existing[1] = existing[1].length > 0 ? `${existing[1]},${value}` : value;
      return;
    }
    if (k.startsWith(":")) {
      const firstOther = this.entries.findIndex((e) => !e[0].startsWith(":"));
      this.entries.splice(firstOther < 0 ? this.entries.length : firstOther, 0, [k, value]);
    } else {
      this.entries.push([k, value]);
    }
  }

  /** HeaderMapImpl::setCopy: remove, then addCopy. */
  replace(key: string, value: string): void {
    this.remove(key);
    this.add(key, value);
  }

  /** An inline setter (setInline): the first entry's value in place, or a new entry. */
  set(key: string, value: string): void {
    const k = this.keyOf(key);
    const existing = this.entries.find((e) => e[0] === k);
    if (existing) existing[1] = value;
    else this.add(key, value);
  }

  remove(key: string): void {
    const k = this.keyOf(key);
    this.entries = this.entries.filter((e) => e[0] !== k);
  }

  clear(): void {
    this.entries = [];
  }

  /** A copy of the entries: later changes to the map do not reach it. */
  toList(): HeaderList {
    return this.entries.map(([k, v]) => [k, v]);
  }

  /** The entries in the pairs wire format. */
  pairs(): Buffer {
    return encodePairs(this.entries);
  }
}

// Pairs wire format (proxy-wasm-cpp-host src/pairs_util.cc): u32 count, then u32 key size and
// u32 value size per pair, then each key and value followed by a NUL byte; little-endian.
// Strings are latin1: one byte per char.

/** PairsUtil::marshalPairs */
export function encodePairs(list: HeaderList): Buffer {
  const head = Buffer.alloc(4 + list.length * 8);
  head.writeUInt32LE(list.length, 0);
  const parts: Buffer[] = [head];
  list.forEach(([k, v], i) => {
    head.writeUInt32LE(k.length, 4 + i * 8);
    head.writeUInt32LE(v.length, 8 + i * 8);
    parts.push(Buffer.from(`${k}\0${v}\0`, "latin1"));
  });
  return Buffer.concat(parts);
}

const PAIRS_MAX_BYTES = 1024 * 1024; // PROXY_WASM_HOST_PAIRS_MAX_BYTES (limits.h)
const PAIRS_MAX_COUNT = 1024; // PROXY_WASM_HOST_PAIRS_MAX_COUNT

/** PairsUtil::toPairs: any malformed input yields no pairs at all, silently. */
export function parsePairs(buf: Buffer, at: number, size: number): HeaderList {
  if (size > PAIRS_MAX_BYTES || size < 4) return [];
  const end = at + size;
  const n = buf.readUInt32LE(at);
  if (n > PAIRS_MAX_COUNT || at + 4 + n * 8 > end) return [];
  const out: HeaderList = [];
  let p = at + 4 + n * 8;
  for (let i = 0; i < n; i++) {
    const ks = buf.readUInt32LE(at + 4 + i * 8);
    const vs = buf.readUInt32LE(at + 8 + i * 8);
    if (p + ks + 1 > end || buf[p + ks] !== 0) return [];
    const k = buf.toString("latin1", p, p + ks);
    p += ks + 1;
    if (p + vs + 1 > end || buf[p + vs] !== 0) return [];
    const v = buf.toString("latin1", p, p + vs);
    p += vs + 1;
    out.push([k, v]);
  }
  return p === end ? out : [];
}
