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

/** ASCII-only lowercase, as absl::AsciiStrToLower; returns the same string when nothing changes. */
export function asciiLower(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
  }
  return s;
}

/** A key's bit in HeaderMap's keyBits: from the lowercased key, as keys differing in case share entries. */
function keyBit(key: string): number {
  let h = key.length;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return 1 << ((h ^ (h >>> 15)) & 31);
}

/** Values up to this many chars may have their pairs entry kept on the KeyInfo. */
const CACHED_VALUE_MAX = 256;

/** What a header map needs to know about a key, worked out once per distinct key string. */
export class KeyInfo {
  /** The pairs entry (key NUL value NUL) for `entryValue`, once that value repeated. */
  private entry: Uint8Array | null = null;
  private entryValue = "";
  /** The value of the latest entry written without `entry`. */
  private lastValue = "";

  constructor(
    /** Lowercased, with the request map's "host" alias resolved. */
    readonly key: string,
    readonly inline: boolean,
    readonly pseudo: boolean,
    /** Its bit in HeaderMap's keyBits (each bit is shared by many keys). */
    readonly bit: number,
  ) {}

  /**
   * Writes this key's pairs entry for `value` at `p`; returns where it ends. A header's value
   * mostly repeats from request to request: once it was written twice in a row, its entry is
   * kept here and copied in one go, where writing char by char costs over a ns per byte.
   */
  putEntry(buf: Uint8Array, p: number, value: string): number {
    let e = this.entry;
    if (e === null || value !== this.entryValue) {
      if (value !== this.lastValue || value.length > CACHED_VALUE_MAX) {
        this.lastValue = value.length > CACHED_VALUE_MAX ? "" : value;
        return writeEntry(buf, p, this.key, value);
      }
      e = new Uint8Array(this.key.length + value.length + 2);
      writeEntry(e, 0, this.key, value);
      this.entry = e;
      this.entryValue = value;
    }
    buf.set(e, p);
    return p + e.length;
  }
}

/**
 * A header map's entries in one array: each entry's key, as its KeyInfo, followed by its
 * value. One array to build, copy and compare instead of a keys and a values array.
 */
export type Entries = Array<KeyInfo | string>;

/** A header list's keys in order, with nothing to join or move in front (see HeaderMap.from). */
interface KeyList {
  readonly raw: readonly string[];
  /** The list's entries with every value "", for HeaderMap.from to copy and fill in. */
  readonly template: Entries;
  readonly pseudo: number;
  readonly keyBits: number;
}

/**
 * Per kind: key string -> KeyInfo. Streams repeat the same few header names, and a Map hit
 * is much cheaper than lowercasing and a Set lookup per header. Bounded so that a stream of
 * ever-new names cannot grow it without limit (it starts over when full).
 */
class KeyTable {
  private readonly cache = new Map<string, KeyInfo>();
  private static readonly MAX = 4096;
  /** Longer lists are not kept in lastList, so that one long list does not stay in memory. */
  static readonly LIST_MAX = 64;
  /**
   * The pairs bytes last built for a map of this kind, with the entries they encode. Streams
   * mostly send the same headers: comparing the entries is cheaper than encoding them again.
   */
  lastPairs?: { entries: HeaderSnapshot; bytes: Uint8Array };
  /**
   * The keys of the last header list HeaderMap.from took as it came: a stream's list mostly
   * has the keys of the previous one in the same order, and comparing the raw keys is much
   * cheaper than looking each one up. A KeyInfo depends on nothing but its raw key.
   */
  lastList?: KeyList;

  constructor(private readonly kind: HeaderMapKind, private readonly inline: ReadonlySet<string>) {}

  info(raw: string): KeyInfo {
    let i = this.cache.get(raw);
    if (i !== undefined) return i;
    const lower = asciiLower(raw);
    const key = lower === "host" && this.kind === "request" ? ":authority" : lower;
    i = new KeyInfo(key, this.inline.has(key), key.charCodeAt(0) === 58 /* ':' */, keyBit(key));
    if (this.cache.size >= KeyTable.MAX) this.cache.clear();
    this.cache.set(raw, i);
    return i;
  }
}

const KEY_TABLES: Record<HeaderMapKind, KeyTable> = {
  request: new KeyTable("request", INLINE.request),
  "request-trailers": new KeyTable("request-trailers", INLINE["request-trailers"]),
  response: new KeyTable("response", INLINE.response),
  "response-trailers": new KeyTable("response-trailers", INLINE["response-trailers"]),
};

export class HeaderMap {
  /**
   * See Entries. Copy on write: the first `held` entries may be held by a snapshot too, so
   * changing or moving one of them copies the array first. Appending leaves them as they
   * are, and a snapshot reads only its own count: adding a header copies nothing.
   */
  private entries: Entries;
  /** Entries a snapshot holds (see `entries`). */
  private held = 0;
  /** The snapshot of the current entries, once one was asked for. */
  private snap?: HeaderSnapshot;
  private readonly table: KeyTable;

  /** An empty map; see from() for a map of a header list. */
  constructor(readonly kind: HeaderMapKind, entries: Entries = [],
    /** Number of pseudo-headers, which occupy the front of the list. */
    private pseudo = 0,
    /**
     * The bit of every key added since the last clear(): a key whose bit is not here is not in
     * the map, and neither adding nor replacing it needs a search for its entry.
     */
    private keyBits = 0) {
    this.table = KEY_TABLES[kind];
    this.entries = entries;
  }

  static from(list: HeaderList, kind: HeaderMapKind): HeaderMap {
    const table = KEY_TABLES[kind];
    const n = list.length;
    const known = table.lastList;
    if (known !== undefined) {
      const entries = withValues(list, known);
      if (entries !== undefined) return new HeaderMap(kind, entries, known.pseudo, known.keyBits);
    }
    // Most lists already have their pseudo-headers in front and no inline header twice, so
    // adding them one by one would neither reorder nor join anything: their entries are
    // pushed without those checks. Any other list is added entry by entry.
    const entries: Entries = [];
    let pseudo = 0;
    let keyBits = 0;
    for (let i = 0; i < n; i++) {
      const e = list[i];
      const info = table.info(e[0]);
      if ((info.pseudo && pseudo < i) || (info.inline && (keyBits & info.bit) !== 0 && indexOfKey(entries, info.key) >= 0)) {
        const m = new HeaderMap(kind);
        for (const [k, v] of list) m.add(k, v);
        return m;
      }
      if (info.pseudo) pseudo++;
      keyBits |= info.bit;
      entries.push(info, e[1]);
    }
    if (n <= KeyTable.LIST_MAX) {
      table.lastList = { raw: list.map((e) => e[0]), template: entries.map((e, i) => (i & 1 ? "" : e)), pseudo, keyBits };
    }
    return new HeaderMap(kind, entries, pseudo, keyBits);
  }

  /** The first entry of a key, or -1. */
  private find(info: KeyInfo): number {
    return (this.keyBits & info.bit) !== 0 ? indexOfKey(this.entries, info.key) : -1;
  }

  get size(): number {
    return this.entries.length >> 1;
  }

  /** The key of entry i (0 <= i < size). */
  keyAt(i: number): KeyInfo {
    return this.entries[2 * i] as KeyInfo;
  }

  /** HeaderMap::byteSize(): sum of key and value lengths. */
  byteSize(): number {
    const e = this.entries;
    let n = 0;
    for (let i = 0; i < e.length; i += 2) n += (e[i] as KeyInfo).key.length + (e[i + 1] as string).length;
    return n;
  }

  get(key: string): string | undefined {
    const i = this.find(this.table.info(key));
    return i < 0 ? undefined : (this.entries[2 * i + 1] as string);
  }

  /** All values of a key, in order. */
  getAll(key: string): string[] {
    const k = this.table.info(key).key;
    const e = this.entries;
    const out: string[] = [];
    for (let i = 0; i < e.length; i += 2) if ((e[i] as KeyInfo).key === k) out.push(e[i + 1] as string);
    return out;
  }

  add(key: string, value: string): void {
    this.addInfo(this.table.info(key), value);
  }

  /** Before changing or moving an entry: a snapshot that holds the entries keeps them as they are. */
  private rewrite(): Entries {
    this.snap = undefined;
    if (this.held > 0) {
      this.entries = this.entries.slice();
      this.held = 0;
    }
    return this.entries;
  }

  private addInfo(info: KeyInfo, value: string): void {
    if (info.inline) {
      const i = this.find(info);
      if (i >= 0) {
        const e = this.rewrite();
        const old = e[2 * i + 1] as string;
        if (value.length > 0) e[2 * i + 1] = old.length > 0 ? `${old},${value}` : value;
        return;
      }
    }
    this.keyBits |= info.bit;
    if (info.pseudo && 2 * this.pseudo < this.entries.length) {
      this.rewrite().splice(2 * this.pseudo, 0, info, value);
    } else {
      this.snap = undefined;
      this.entries.push(info, value);
    }
    if (info.pseudo) this.pseudo++;
  }

  /** HeaderMapImpl::setCopy: remove, then addCopy. */
  replace(key: string, value: string): void {
    this.remove(key);
    this.add(key, value);
  }

  /** An inline setter (setInline): the first entry's value in place, or a new entry. */
  set(key: string, value: string): void {
    const info = this.table.info(key);
    const i = this.find(info);
    if (i < 0) this.addInfo(info, value);
    else this.rewrite()[2 * i + 1] = value;
  }

  remove(key: string): void {
    const info = this.table.info(key);
    if (this.find(info) < 0) return;
    const k = info.key;
    const e = this.rewrite();
    for (let i = e.length - 2; i >= 0; i -= 2) {
      if ((e[i] as KeyInfo).key === k) {
        e.splice(i, 2);
        if (i < 2 * this.pseudo) this.pseudo--;
      }
    }
  }

  clear(): void {
    this.entries = [];
    this.held = 0;
    this.snap = undefined;
    this.pseudo = 0;
    this.keyBits = 0;
  }

  toList(): HeaderList {
    return toList(this.entries, this.entries.length);
  }

  /** The entries in the pairs wire format; read-only, as the same bytes may be handed out again. */
  pairs(): Uint8Array {
    const last = this.table.lastPairs;
    if (last !== undefined && last.entries.holds(this.entries)) return last.bytes;
    const bytes = new Uint8Array(pairsSize(this.entries));
    marshalPairs(bytes, 0, this.entries);
    // A snapshot never changes (the map copies its entries before changing them), so the
    // bytes stay right for the entries it holds.
    this.table.lastPairs = { entries: this.snapshot(), bytes };
    return bytes;
  }

  /**
   * The current entries, turned into a HeaderList only if someone asks. Copy on write: the
   * snapshot holds the map's array (see `entries`); until the map changes, every snapshot
   * is the same one.
   */
  snapshot(): HeaderSnapshot {
    if (this.snap !== undefined) return this.snap;
    this.held = this.entries.length;
    return (this.snap = new HeaderSnapshot(this.entries, this.held));
  }
}

export class HeaderSnapshot {
  private list?: HeaderList;
  /** `entries` may grow past `count` (the map appends to it); only the first `count` items are these. */
  constructor(private readonly entries: Entries, private readonly count: number) {}

  toList(): HeaderList {
    return (this.list ??= toList(this.entries, this.count));
  }

  /** Whether `entries` are the same entries: the same keys (KeyInfo of one table) and values. */
  holds(entries: Entries): boolean {
    const n = this.count;
    if (entries.length !== n) return false;
    const mine = this.entries;
    if (mine === entries) return true;
    // Keys and values in separate loops: each compare then sees one type of item, which
    // V8 compares much faster than a mix of objects and strings.
    for (let i = 0; i < n; i += 2) if ((mine[i] as KeyInfo) !== (entries[i] as KeyInfo)) return false;
    for (let i = 1; i < n; i += 2) if ((mine[i] as string) !== (entries[i] as string)) return false;
    return true;
  }
}

/** The pair index of the first entry with `key`, or -1. */
function indexOfKey(entries: Entries, key: string): number {
  for (let i = 0; i < entries.length; i += 2) if ((entries[i] as KeyInfo).key === key) return i >> 1;
  return -1;
}

/** The known list's entries with the values of `list`, or undefined when its keys are others. */
function withValues(list: HeaderList, known: KeyList): Entries | undefined {
  const raw = known.raw;
  const n = raw.length;
  if (list.length !== n) return undefined;
  const entries = known.template.slice();
  for (let i = 0; i < n; i++) {
    const e = list[i];
    if (e[0] !== raw[i]) return undefined;
    entries[2 * i + 1] = e[1];
  }
  return entries;
}

/** The first `count` items of `entries` as a HeaderList. */
function toList(entries: Entries, count: number): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i < count; i += 2) out.push([(entries[i] as KeyInfo).key, entries[i + 1] as string]);
  return out;
}

// Pairs wire format (proxy-wasm-cpp-host src/pairs_util.cc): u32 count, then u32 key size and
// u32 value size per pair, then each key and value followed by a NUL byte; little-endian.

/** PairsUtil::pairsSize */
export function pairsSize(entries: Entries): number {
  let n = 4;
  for (let i = 0; i < entries.length; i += 2) n += 8 + (entries[i] as KeyInfo).key.length + 1 + (entries[i + 1] as string).length + 1;
  return n;
}

/** Little-endian u32 at `at`, byte by byte: cheaper than Buffer#writeUInt32LE's checks. */
function putU32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v;
  buf[at + 1] = v >>> 8;
  buf[at + 2] = v >>> 16;
  buf[at + 3] = v >>> 24;
}

/**
 * One byte per char, the low 8 bits as Buffer#write(s, "latin1") keeps them. Header strings
 * are short: a JS loop beats the call into Buffer's C++ writer.
 */
export function putLatin1(buf: Uint8Array, at: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) buf[at + i] = s.charCodeAt(i);
  return at + n;
}

/** One pair's strings: key NUL value NUL. */
function writeEntry(buf: Uint8Array, p: number, key: string, value: string): number {
  p = putLatin1(buf, p, key);
  buf[p++] = 0;
  p = putLatin1(buf, p, value);
  buf[p++] = 0;
  return p;
}

/** PairsUtil::marshalPairs into `buf` at `at`; `buf` must have pairsSize bytes there. */
export function marshalPairs(buf: Uint8Array, at: number, entries: Entries): void {
  const n = entries.length >> 1;
  putU32(buf, at, n);
  let sizes = at + 4;
  let p = at + 4 + n * 8;
  for (let i = 0; i < entries.length; i += 2) {
    const k = entries[i] as KeyInfo;
    const v = entries[i + 1] as string;
    putU32(buf, sizes, k.key.length);
    putU32(buf, sizes + 4, v.length);
    sizes += 8;
    p = k.putEntry(buf, p, v);
  }
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
