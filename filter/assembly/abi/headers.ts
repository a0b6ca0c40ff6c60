// Header maps, read whole in one host call and looked up in one pass.
import { Bytes, sameBytes } from "./bytes";
import { StaticBuffer, outPtr, outSize } from "./memory";

// @ts-ignore: decorator
@external("env", "proxy_get_header_map_pairs")
declare function proxy_get_header_map_pairs(type: i32, valuePtr: usize, valueSize: usize): u32;

export const REQUEST_HEADERS: i32 = 0;
export const RESPONSE_HEADERS: i32 = 2;

// Up to MAX_SLOTS names are looked up at once. A HeaderNames table holds each slot's name (u32
// pointer, i32 length), then which slots want a name of each length (a u16 bit set per length;
// lengths from LONG_NAME up share the last entry), so index() compares a header only with the
// names of its length.
const MAX_SLOTS = 12;
const LONG_NAME: usize = 63;
const WANT_LEN: usize = MAX_SLOTS * 4;
const WANT_BY_LEN: usize = MAX_SLOTS * 8;
const WANT_TABLE_BYTES: i32 = MAX_SLOTS * 8 + <i32>(LONG_NAME + 1) * 2;
// A snapshot's results: per slot the value's pointer, its length and how many entries matched.
const RESULT_PTR: usize = 0;
const RESULT_LEN: usize = MAX_SLOTS * 4;
const RESULT_HITS: usize = MAX_SLOTS * 8;
const RESULT_BYTES: i32 = MAX_SLOTS * 12;
const KEEP_JOINED: i32 = 4096;

/** The header names a snapshot looks up (lowercase, as Envoy keeps them); built once. */
export class HeaderNames {
  private table: Bytes = new Bytes(WANT_TABLE_BYTES); // zeroed: no name of any length
  private names: Array<Bytes> = []; // keeps the names the table points at alive
  /** Slots used: add() gives the next one. */
  count: i32 = 0;

  /** Adds a name; returns its slot. */
  add(name: Bytes): i32 {
    const s = this.count++;
    this.names.push(name);
    const t = this.table.ptr;
    store<u32>(t + (<usize>s << 2), <u32>name.ptr);
    store<i32>(t + WANT_LEN + (<usize>s << 2), name.len);
    const at = t + WANT_BY_LEN + (min(<usize>name.len, LONG_NAME) << 1);
    const bit: i32 = 1 << s;
    store<u16>(at, load<u16>(at) | <u16>bit);
    return s;
  }

  @inline get tablePtr(): usize { return this.table.ptr; }
}

/**
 * All of a header map in one host call (Envoy's pair format: u32 count, then u32 key and
 * value sizes, then NUL-terminated keys and values); cheaper than a call per header. Values
 * come as spans into the snapshot, so looking them up allocates nothing; they are valid until
 * the next read().
 */
export class HeaderSnapshot {
  private count: i32 = 0;
  private slotJoined: Array<Bytes> = [];
  private bigJoined: bool = false;

  /** `results`: RESULT_BYTES of static memory; `pairs`: where the map is read to when it fits. */
  constructor(private map: i32, private results: usize, private pairs: StaticBuffer) {
    for (let i = 0; i < MAX_SLOTS; i++) this.slotJoined.push(new Bytes(16));
  }

  /** Reads the header map, then looks up every name of `names`. */
  read(names: HeaderNames): void {
    if (this.bigJoined) {
      // Repeated headers are rare; buffers one of them made large are not kept.
      for (let i = 0; i < MAX_SLOTS; i++) if (this.slotJoined[i].capacity > KEEP_JOINED) this.slotJoined[i] = new Bytes(16);
      this.bigJoined = false;
    }
    this.count = 0;
    this.pairs.arm();
    this.pairs.took(proxy_get_header_map_pairs(this.map, outPtr, outSize));
    const n = this.pairs.len;
    if (n >= 4) this.count = <i32>load<u32>(this.pairs.ptr);
    if (<usize>4 + <usize>this.count * 8 > <usize>n) this.count = 0;
    this.index(names.tablePtr);
  }

  /**
   * Looks up the names in one pass. Repeated headers are joined with "," (Envoy's
   * get_header_map_value returns the first of most repeated headers; two content types joined
   * are ambiguous and match nothing).
   */
  private index(wants: usize): void {
    const base = this.pairs.ptr;
    const end = base + <usize>this.pairs.len;
    const results = this.results;
    let sizes = base + 4;
    let p = sizes + <usize>this.count * 8;
    memory.fill(results + RESULT_HITS, 0, <usize>MAX_SLOTS * 4);
    for (let i = 0; i < this.count; i++) {
      const k = <usize>load<u32>(sizes);
      const v = <usize>load<u32>(sizes + 4);
      sizes += 8;
      if (p + k + v + 2 > end) {
        // A malformed map (Envoy never sends one) reads as having none of the names.
        memory.fill(results + RESULT_HITS, 0, <usize>MAX_SLOTS * 4);
        return;
      }
      let bits = <u32>load<u16>(wants + WANT_BY_LEN + (min(k, LONG_NAME) << 1));
      while (bits != 0) {
        const s = ctz(bits);
        bits &= bits - 1;
        const o = <usize>s << 2;
        if (<usize>load<i32>(wants + WANT_LEN + o) != k || !sameBytes(p, <usize>load<u32>(wants + o), <i32>k)) continue;
        const hits = load<i32>(results + RESULT_HITS + o);
        if (hits == 0) {
          store<u32>(results + RESULT_PTR + o, <u32>(p + k + 1));
          store<i32>(results + RESULT_LEN + o, <i32>v);
        } else {
          const joined = this.slotJoined[s];
          if (hits == 1) { joined.reset(); joined.raw(<usize>load<u32>(results + RESULT_PTR + o), load<i32>(results + RESULT_LEN + o)); }
          joined.byte(0x2c);
          joined.raw(p + k + 1, <i32>v);
          if (joined.capacity > KEEP_JOINED) this.bigJoined = true;
          store<u32>(results + RESULT_PTR + o, <u32>joined.ptr);
          store<i32>(results + RESULT_LEN + o, joined.len);
        }
        store<i32>(results + RESULT_HITS + o, hits + 1);
      }
      p += k + v + 2;
    }
  }

  /** How many entries of slot `s`'s name the map has. */
  @inline hits(s: i32): i32 { return load<i32>(this.results + RESULT_HITS + (<usize>s << 2)); }
  @inline found(s: i32): bool { return this.hits(s) > 0; }
  /** The value of slot `s` (entries joined with ","), as a span: valuePtr/valueLen. */
  @inline valuePtr(s: i32): usize { return <usize>load<u32>(this.results + RESULT_PTR + (<usize>s << 2)); }
  @inline valueLen(s: i32): i32 { return load<i32>(this.results + RESULT_LEN + (<usize>s << 2)); }

  /** The value of slot `s` as a decimal number (digits only), or -1. */
  number(s: i32): i64 {
    if (!this.found(s)) return -1;
    const p = this.valuePtr(s);
    const len = this.valueLen(s);
    let n: i64 = 0;
    for (let i = 0; i < len; i++) {
      const c = <i32>load<u8>(p + <usize>i);
      if (c < 0x30 || c > 0x39) return -1;
      if (n < (<i64>1 << 50)) n = n * 10 + (c - 0x30);
    }
    if (len == 0) return -1;
    return n;
  }
}

// The VM runs one callback at a time, so one snapshot per map serves every stream.
export const requestHeaders = new HeaderSnapshot(REQUEST_HEADERS, memory.data(RESULT_BYTES, 16), new StaticBuffer(memory.data(4096, 16), 4096));
export const responseHeaders = new HeaderSnapshot(RESPONSE_HEADERS, memory.data(RESULT_BYTES, 16), new StaticBuffer(memory.data(1024, 16), 1024));
