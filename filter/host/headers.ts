// Envoy's header maps (source/common/http/header_map_impl.cc) as the wasm ABI sees them:
// - keys are lowercased, ASCII only (Http::LowerCaseString);
// - adding a key that is one of Envoy's O(1) "inline" headers when it is already present
//   appends ",value" to the existing entry (insertByKey -> appendToHeader); any other key
//   adds a separate entry, so repeated headers stay repeated;
// - replace (setCopy) overwrites the FIRST entry and keeps the others;
// - remove drops every entry; get returns the first entry (the wasm ABI has no way to
//   return several values, Envoy context.cc getHeaderMapValue returns entry[0]);
// - "host" in a request map is the :authority entry (StaticLookupTable legacy alias);
// - pseudo-headers (":...") are kept in front of all other headers (HeaderList::insert).
// Strings hold one char per byte (latin1), as Node's http module hands header values over.

export type HeaderList = Array<[string, string]>;
export type HeaderMapKind = "request" | "request-trailers" | "response" | "response-trailers";

// Header names from source/common/http/headers.h for INLINE_REQ_HEADERS, INLINE_REQ_RESP_HEADERS,
// INLINE_RESP_HEADERS and INLINE_RESP_HEADERS_TRAILERS (envoy/http/header_map.h). Extensions
// compiled into Envoy may register more custom inline headers; those are not modeled.
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
const RESP_TRAILERS = ["grpc-status", "grpc-message"];
const RESP = [
  "x-envoy-upstream-service-time", ":status", "date", "x-envoy-degraded", "x-envoy-immediate-health-check-fail",
  "x-envoy-ratelimited", "x-envoy-upstream-canary", "x-envoy-upstream-healthchecked-cluster", "location", "server",
];
const INLINE: Record<HeaderMapKind, ReadonlySet<string>> = {
  request: new Set([...REQ, ...REQ_RESP]),
  "request-trailers": new Set(),
  response: new Set([...RESP, ...REQ_RESP, ...RESP_TRAILERS]),
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

/** A header list's keys in order, with nothing to join or move in front (see HeaderMap.from). */
interface KeyList {
  readonly raw: readonly string[];
  readonly infos: readonly KeyInfo[];
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
   * Each entry's key (as its KeyInfo) and value. Read-only outside this class: snapshots and
   * the key table's lastList may hold the same arrays (see `shared`).
   */
  infos: KeyInfo[] = [];
  values: string[] = [];
  private readonly table: KeyTable;
  /** Number of pseudo-headers, which occupy the front of the list. */
  private pseudo = 0;
  /** The snapshot of the current entries, once one was asked for. */
  private snap?: HeaderSnapshot;
  /**
   * Copy on write: `infos` and `values` are held elsewhere too (by a snapshot, or `infos` by
   * the key table), so the next change copies them first, and what holds them never changes.
   */
  private shared = false;
  /**
   * The bit of every key added since the last clear(): a key whose bit is not here is not in
   * the map, and neither adding nor replacing it needs a search for its entry.
   */
  private keyBits = 0;

  constructor(readonly kind: HeaderMapKind) {
    this.table = KEY_TABLES[kind];
  }

  static from(list: HeaderList, kind: HeaderMapKind): HeaderMap {
    const m = new HeaderMap(kind);
    const n = list.length;
    const known = m.table.lastList;
    if (known !== undefined && sameKeys(list, known.raw)) {
      m.infos = known.infos as KeyInfo[];
      m.shared = true;
      m.values = list.map((e) => e[1]);
      m.pseudo = known.pseudo;
      m.keyBits = known.keyBits;
      return m;
    }
    // Most lists already have their pseudo-headers in front and no inline header twice, so
    // adding them one by one would neither reorder nor join anything: their entries are
    // pushed without those checks. Any other list is added entry by entry.
    const infos = m.infos;
    const values = m.values;
    let pseudo = 0;
    let keyBits = 0;
    for (let i = 0; i < n; i++) {
      const e = list[i];
      const info = m.table.info(e[0]);
      if ((info.pseudo && pseudo < i) || (info.inline && (keyBits & info.bit) !== 0 && indexOfKey(infos, info.key) >= 0)) {
        m.clear();
        for (const [k, v] of list) m.add(k, v);
        return m;
      }
      if (info.pseudo) pseudo++;
      keyBits |= info.bit;
      infos.push(info);
      values.push(e[1]);
    }
    m.pseudo = pseudo;
    m.keyBits = keyBits;
    if (n <= KeyTable.LIST_MAX) {
      m.table.lastList = { raw: list.map((e) => e[0]), infos, pseudo, keyBits };
      m.shared = true;
    }
    return m;
  }

  /** The first entry of a key, or -1. */
  private find(info: KeyInfo): number {
    return (this.keyBits & info.bit) !== 0 ? indexOfKey(this.infos, info.key) : -1;
  }

  get size(): number {
    return this.infos.length;
  }

  /** HeaderMap::byteSize(): sum of key and value lengths. */
  byteSize(): number {
    let n = 0;
    for (let i = 0; i < this.infos.length; i++) n += this.infos[i].key.length + this.values[i].length;
    return n;
  }

  get(key: string): string | undefined {
    const i = this.find(this.table.info(key));
    return i < 0 ? undefined : this.values[i];
  }

  /** All values of a key, in order. */
  getAll(key: string): string[] {
    const k = this.table.info(key).key;
    const out: string[] = [];
    for (let i = 0; i < this.infos.length; i++) if (this.infos[i].key === k) out.push(this.values[i]);
    return out;
  }

  add(key: string, value: string): void {
    this.addInfo(this.table.info(key), value);
  }

  /** Before any change: whoever holds the arrays keeps them as they are. */
  private unshare(): void {
    if (!this.shared) return;
    this.infos = this.infos.slice();
    this.values = this.values.slice();
    this.shared = false;
    this.snap = undefined;
  }

  private addInfo(info: KeyInfo, value: string): void {
    this.unshare();
    if (info.inline) {
      const i = this.find(info);
      if (i >= 0) {
        if (value.length > 0) this.values[i] = this.values[i].length > 0 ? `${this.values[i]},${value}` : value;
        return;
      }
    }
    this.keyBits |= info.bit;
    if (info.pseudo && this.pseudo < this.infos.length) {
      this.infos.splice(this.pseudo, 0, info);
      this.values.splice(this.pseudo, 0, value);
    } else {
      this.infos.push(info);
      this.values.push(value);
    }
    if (info.pseudo) this.pseudo++;
  }

  set(key: string, value: string): void {
    const info = this.table.info(key);
    const i = this.find(info);
    if (i < 0) {
      this.addInfo(info, value);
      return;
    }
    this.unshare();
    this.values[i] = value;
  }

  remove(key: string): void {
    const info = this.table.info(key);
    if (this.find(info) < 0) return;
    const k = info.key;
    this.unshare();
    for (let i = this.infos.length - 1; i >= 0; i--) {
      if (this.infos[i].key === k) {
        this.infos.splice(i, 1);
        this.values.splice(i, 1);
        if (i < this.pseudo) this.pseudo--;
      }
    }
  }

  clear(): void {
    this.infos = [];
    this.values = [];
    this.shared = false;
    this.snap = undefined;
    this.pseudo = 0;
    this.keyBits = 0;
  }

  toList(): HeaderList {
    return toList(this.infos, this.values);
  }

  /** The entries in the pairs wire format; read-only, as the same bytes may be handed out again. */
  pairs(): Uint8Array {
    const last = this.table.lastPairs;
    if (last !== undefined && last.entries.holds(this.infos, this.values)) return last.bytes;
    const bytes = new Uint8Array(pairsSize(this.infos, this.values));
    marshalPairs(bytes, 0, this.infos, this.values);
    // A snapshot never changes (the map copies its arrays before changing them), so the
    // bytes stay right for the entries it holds.
    this.table.lastPairs = { entries: this.snapshot(), bytes };
    return bytes;
  }

  /**
   * The current entries, turned into a HeaderList only if someone asks. Copy on write: the
   * snapshot holds the map's arrays, which the map copies before its next change; until then
   * every snapshot is the same one.
   */
  snapshot(): HeaderSnapshot {
    this.shared = true;
    return (this.snap ??= new HeaderSnapshot(this.infos, this.values));
  }
}

export class HeaderSnapshot {
  private list?: HeaderList;
  constructor(private readonly infos: readonly KeyInfo[], private readonly values: readonly string[]) {}

  toList(): HeaderList {
    return (this.list ??= toList(this.infos, this.values));
  }

  /** Whether these are the same entries: the same keys (KeyInfo of one table) and values. */
  holds(infos: readonly KeyInfo[], values: readonly string[]): boolean {
    return sameItems(this.infos, infos) && sameItems(this.values, values);
  }
}

function indexOfKey(infos: readonly KeyInfo[], key: string): number {
  for (let i = 0; i < infos.length; i++) if (infos[i].key === key) return i;
  return -1;
}

/** Same length and the same items (maps of lists with the same keys share their infos array). */
function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameKeys(list: HeaderList, raw: readonly string[]): boolean {
  const n = raw.length;
  if (list.length !== n) return false;
  for (let i = 0; i < n; i++) if (list[i][0] !== raw[i]) return false;
  return true;
}

function toList(infos: readonly KeyInfo[], values: readonly string[]): HeaderList {
  return infos.map((k, i): [string, string] => [k.key, values[i]]);
}

// Pairs wire format (proxy-wasm-cpp-host src/pairs_util.cc): u32 count, then u32 key size and
// u32 value size per pair, then each key and value followed by a NUL byte; little-endian.

/** PairsUtil::pairsSize */
export function pairsSize(keys: readonly KeyInfo[], values: readonly string[]): number {
  let n = 4;
  for (let i = 0; i < keys.length; i++) n += 8 + keys[i].key.length + 1 + values[i].length + 1;
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
export function marshalPairs(buf: Uint8Array, at: number, keys: readonly KeyInfo[], values: readonly string[]): void {
  const n = keys.length;
  putU32(buf, at, n);
  let sizes = at + 4;
  let p = at + 4 + n * 8;
  for (let i = 0; i < n; i++) {
    const k = keys[i];
    const v = values[i];
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
