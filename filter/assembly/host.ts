// The one place for @solo-io/proxy-runtime 0.1.8 workarounds and extra host imports.
// - Its header/metric helpers wrap host calls in CHECK_RESULT, which aborts (a VM trap)
//   on any non-Ok status; here every call returns its status instead.
// - It has no proxy_set_buffer_bytes binding; it is declared below.
// - Its RootContext.onConfigure passes the config size where a pointer belongs; the
//   filter reads the configuration itself (readBuffer(PLUGIN_CONFIGURATION, size)).
// - Its get_metric calls proxy_record_metric; the filter defines, increments and records
//   through its own bindings below, and never reads a metric.
// - Its send_local_response copies the body and serializes headers on every call; local
//   replies here all add the same one header, serialized once (localReply).
// Every import used here is registered by Envoy for ABI 0.2.0 (see wasm-abi-check).
import { get_buffer_bytes } from "@solo-io/proxy-runtime/runtime";
import { free } from "@solo-io/proxy-runtime/malloc";
import { Bytes, sameBytes } from "./bytes";

// @ts-ignore: decorator
@external("env", "proxy_send_local_response")
declare function proxy_send_local_response(status: u32, details: usize, detailsSize: usize, body: usize, bodySize: usize,
  headers: usize, headersSize: usize, grpcStatus: i32): u32;
const NO_GRPC_STATUS: i32 = -1; // an HTTP reply, not a gRPC one
// @ts-ignore: decorator
@external("env", "proxy_set_buffer_bytes")
declare function proxy_set_buffer_bytes(type: i32, start: u32, length: u32, data: usize, size: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_buffer_bytes")
declare function proxy_get_buffer_bytes(type: i32, start: u32, length: u32, valuePtr: usize, valueSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_header_map_pairs")
declare function proxy_get_header_map_pairs(type: i32, valuePtr: usize, valueSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_replace_header_map_value")
declare function proxy_replace_header_map_value(type: i32, key: usize, keySize: usize, value: usize, valueSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_remove_header_map_value")
declare function proxy_remove_header_map_value(type: i32, key: usize, keySize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_define_metric")
declare function proxy_define_metric(type: i32, name: usize, nameSize: usize, id: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_increment_metric")
declare function proxy_increment_metric(id: u32, offset: i64): u32;
// @ts-ignore: decorator
@external("env", "proxy_record_metric")
declare function proxy_record_metric(id: u32, value: u64): u32;

export const OK: u32 = 0;
export const REQUEST_HEADERS: i32 = 0;
export const RESPONSE_HEADERS: i32 = 2;
export const REQUEST_BODY: i32 = 0;
export const RESPONSE_BODY: i32 = 1;
export const PLUGIN_CONFIGURATION: i32 = 7;

// A host buffer in static memory, for a buffer read on every request (a header map, the
// request body). The host fills it through malloc like any other buffer, but the module reads
// it as a span, so nothing is allocated or freed for it. Its data is valid until its owner's
// next host call.
export class StaticBuffer {
  /** What the last call got: `len` bytes at `ptr` (len 0: none). */
  ptr: usize = 0;
  len: i32 = 0;
  /** Data that did not fit, kept alive until the next call. */
  private heap: ArrayBuffer | null = null;

  /** `at`: `capacity` bytes of static memory (memory.data). */
  constructor(private at: usize, private capacity: i32) {}

  /**
   * Before a host call that returns a buffer: clears the out-params, and lets malloc hand out
   * this buffer if the data fits.
   */
  arm(): void {
    store<u32>(outPtr, 0);
    store<u32>(outSize, 0);
    armed = this.at;
    armedCapacity = this.capacity;
  }

  /**
   * After that host call, with its status: takes the buffer it returned (in the out-params),
   * here or, when it did not fit, on the heap; none when the call failed. Reference counting
   * happens only for a heap buffer. Any later host buffer comes from the heap again.
   */
  took(status: u32): void {
    armed = 0;
    if (status != OK) { this.len = 0; return; }
    const p = <usize>load<u32>(outPtr);
    const n = <i32>load<u32>(outSize);
    if (p != 0 && p != this.at) {
      this.heap = changetype<ArrayBuffer>(p); // the field's reference ...
      free(p); // ... replaces the one malloc returned
    } else if (this.heap !== null) {
      this.heap = null;
    }
    this.ptr = p;
    this.len = p == 0 ? 0 : n;
  }

  /** Lets go of data that did not fit, once it is no longer needed. */
  drop(): void {
    if (this.heap !== null) this.heap = null;
    this.len = 0;
  }
}

let armed: usize = 0;
let armedCapacity: i32 = 0;

/**
 * The allocator the host calls to hand the module a buffer (header maps, bodies). Like
 * proxy-runtime's malloc it returns a retained ArrayBuffer payload, which free() releases, but
 * without zeroing it first: the host writes every byte before the module reads any. An armed
 * StaticBuffer is handed out instead when the data fits.
 */
export function malloc(size: i32): usize {
  const p = armed;
  if (p != 0) {
    armed = 0;
    if (size <= armedCapacity) return p;
  }
  return __retain(__new(<usize>size, idof<ArrayBuffer>()));
}

// Out-params the host writes: a pointer (to memory it allocated with malloc) and a size.
const outPtr = memory.data(8);
const outSize = memory.data(8);

// index(): up to MAX_SLOTS names looked up at once, and what was found for each. The results
// are shared by all snapshots (the VM runs one callback at a time): read them before the next
// index(). The names each snapshot looks for are its own, set once with want().
const MAX_SLOTS = 12;
const KEEP_JOINED: i32 = 4096;
const slotPtr = memory.data(MAX_SLOTS * 4);
const slotLen = memory.data(MAX_SLOTS * 4);
const slotHits = memory.data(MAX_SLOTS * 4);
// A want table: each slot's name (u32 pointer, i32 length), then which slots want a name of
// each length (a u16 bit set per length; lengths from LONG_NAME up share the last entry), so
// index() compares a header only with the names of its length.
const LONG_NAME: usize = 63;
const WANT_LEN: usize = MAX_SLOTS * 4;
const WANT_BY_LEN: usize = MAX_SLOTS * 8;
export const WANT_TABLE_BYTES: i32 = MAX_SLOTS * 8 + <i32>(LONG_NAME + 1) * 2;

/**
 * All of a header map in one host call (Envoy's pair format: u32 count, then u32 key and
 * value sizes, then NUL-terminated keys and values); cheaper than a call per header.
 * Lookups return spans into the snapshot, so they allocate nothing.
 */
export class HeaderSnapshot {
  private count: i32 = 0;
  private slotJoined: Array<Bytes> = [];
  private bigJoined: bool = false;
  /** Who set the names wanted (see wantsFor()). */
  private wantsSerial: u32 = 0;

  /**
   * `wants`: WANT_TABLE_BYTES of static memory (memory.data) for this snapshot alone;
   * `pairs`: where the header map is read to when it fits (valid until the next load()).
   */
  constructor(private wants: usize, private pairs: StaticBuffer) {
    for (let i = 0; i < MAX_SLOTS; i++) this.slotJoined.push(new Bytes(16));
  }

  load(map: i32): void {
    if (this.bigJoined) {
      // Repeated headers are rare; buffers one of them made large are not kept.
      for (let i = 0; i < MAX_SLOTS; i++) if (this.slotJoined[i].buf.byteLength > KEEP_JOINED) this.slotJoined[i] = new Bytes(16);
      this.bigJoined = false;
    }
    this.count = 0;
    readHeaderPairsInto(map, this.pairs);
    const n = this.pairs.len;
    if (n >= 4) this.count = <i32>load<u32>(this.pairs.ptr);
    if (<usize>4 + <usize>this.count * 8 > <usize>n) this.count = 0;
  }

  /**
   * Looks up the names set with want() in one pass. Repeated headers are joined with ","
   * (Envoy's get_header_map_value returns the first of most repeated headers; two content
   * types joined are ambiguous and match nothing). Results: found(), hits(), slotPtr(), slotLen().
   */
  index(slots: i32): void {
    const base = this.pairs.ptr;
    const end = base + <usize>this.pairs.len;
    let sizes = base + 4;
    let p = sizes + <usize>this.count * 8;
    const wants = this.wants;
    for (let s = 0; s < slots; s++) store<i32>(slotHits + (<usize>s << 2), 0);
    for (let i = 0; i < this.count; i++) {
      const k = <usize>load<u32>(sizes);
      const v = <usize>load<u32>(sizes + 4);
      sizes += 8;
      if (p + k + v + 2 > end) {
        // A malformed map (Envoy never sends one) reads as having none of the names.
        for (let s = 0; s < slots; s++) store<i32>(slotHits + (<usize>s << 2), 0);
        return;
      }
      let bits = <u32>load<u16>(wants + WANT_BY_LEN + (min(k, LONG_NAME) << 1));
      while (bits != 0) {
        const s = ctz(bits);
        bits &= bits - 1;
        const o = <usize>s << 2;
        if (<usize>load<i32>(wants + WANT_LEN + o) != k || !sameBytes(p, <usize>load<u32>(wants + o), <i32>k)) continue;
        const hits = load<i32>(slotHits + o);
        if (hits == 0) {
          store<u32>(slotPtr + o, <u32>(p + k + 1));
          store<i32>(slotLen + o, <i32>v);
        } else {
          const joined = this.slotJoined[s];
          if (hits == 1) { joined.reset(); joined.raw(<usize>load<u32>(slotPtr + o), load<i32>(slotLen + o)); }
          joined.byte(0x2c);
          joined.raw(p + k + 1, <i32>v);
          if (joined.buf.byteLength > KEEP_JOINED) this.bigJoined = true;
          store<u32>(slotPtr + o, <u32>joined.ptr);
          store<i32>(slotLen + o, joined.len);
        }
        store<i32>(slotHits + o, hits + 1);
      }
      p += k + v + 2;
    }
  }

  /**
   * Whether the names wanted were set for `serial` (a number that changes whenever the names
   * may); if not, forgets them and takes `serial`: the caller then sets them with want().
   */
  wantsFor(serial: u32): bool {
    if (this.wantsSerial == serial) return true;
    memory.fill(this.wants, 0, <usize>WANT_TABLE_BYTES);
    this.wantsSerial = serial;
    return false;
  }

  /** Names index() looks for: slot `s` is the `n` bytes at `p` (the bytes must outlive the snapshot's use). */
  want(s: i32, p: usize, n: i32): void {
    const wants = this.wants;
    store<u32>(wants + (<usize>s << 2), <u32>p);
    store<i32>(wants + WANT_LEN + (<usize>s << 2), n);
    const at = wants + WANT_BY_LEN + (min(<usize>n, LONG_NAME) << 1);
    const bit: i32 = 1 << s;
    store<u16>(at, load<u16>(at) | <u16>bit);
  }

  /** How many entries of slot `s`'s name the map has. */
  @inline hits(s: i32): i32 { return load<i32>(slotHits + (<usize>s << 2)); }
  @inline found(s: i32): bool { return this.hits(s) > 0; }
  @inline slotPtr(s: i32): usize { return <usize>load<u32>(slotPtr + (<usize>s << 2)); }
  @inline slotLen(s: i32): i32 { return load<i32>(slotLen + (<usize>s << 2)); }
}

export function setHeader(map: i32, name: Bytes, value: Bytes): u32 {
  return proxy_replace_header_map_value(map, name.ptr, <usize>name.len, value.ptr, <usize>value.len);
}

/** setHeader with name and value as spans, which cost no reference counting. */
export function setHeaderSpan(map: i32, name: usize, nameLen: i32, value: usize, valueLen: i32): u32 {
  return proxy_replace_header_map_value(map, name, <usize>nameLen, value, <usize>valueLen);
}

export function removeHeader(map: i32, name: Bytes): u32 {
  return proxy_remove_header_map_value(map, name.ptr, <usize>name.len);
}

export function readBuffer(type: i32, size: usize): ArrayBuffer {
  return get_buffer_bytes(type, 0, <u32>size);
}

/** Reads a whole buffer into `into` (its ptr and len; none when the host refused). */
export function readBufferInto(type: i32, size: usize, into: StaticBuffer): void {
  into.arm();
  into.took(proxy_get_buffer_bytes(type, 0, <u32>size, outPtr, outSize));
}

/** Reads a whole header map, in the pairs format, into `into`. */
export function readHeaderPairsInto(map: i32, into: StaticBuffer): void {
  into.arm();
  into.took(proxy_get_header_map_pairs(map, outPtr, outSize));
}

/** Replaces the whole buffered body. */
export function replaceBuffer(type: i32, currentSize: usize, data: Bytes): u32 {
  return proxy_set_buffer_bytes(type, 0, <u32>currentSize, data.ptr, <usize>data.len);
}

/** The header every local reply adds, in the pairs format: content-type: application/json. */
const JSON_REPLY_HEADERS = jsonReplyHeaders();

function jsonReplyHeaders(): Bytes {
  const key = "content-type";
  const value = "application/json";
  const out = new Bytes(12 + key.length + value.length + 2);
  const p = out.reserve(12);
  store<u32>(p, 1);
  store<u32>(p + 4, key.length);
  store<u32>(p + 8, value.length);
  out.len = 12;
  out.str(key); out.byte(0);
  out.str(value); out.byte(0);
  return out;
}

/** Answers the request with `body` as JSON (Envoy sends it once the callback returns). */
export function localReply(status: u32, details: string, body: Bytes): u32 {
  const d = String.UTF8.encode(details);
  return proxy_send_local_response(status, changetype<usize>(d), d.byteLength, body.ptr, body.len,
    JSON_REPLY_HEADERS.ptr, JSON_REPLY_HEADERS.len, NO_GRPC_STATUS);
}

const METRIC_COUNTER: i32 = 0;
const METRIC_GAUGE: i32 = 1;
const metricId = memory.data(4);

/** Defines a metric of `type`; returns its id, or -1 if the host refused it. */
function defineMetric(type: i32, name: string): i64 {
  const enc = String.UTF8.encode(name);
  if (proxy_define_metric(type, changetype<usize>(enc), <usize>enc.byteLength, metricId) != OK) return -1;
  return <i64>load<u32>(metricId);
}

export function defineCounter(name: string): i64 { return defineMetric(METRIC_COUNTER, name); }
export function defineGauge(name: string): i64 { return defineMetric(METRIC_GAUGE, name); }

export function incrementCounter(id: i64, by: i64 = 1): void {
  if (id >= 0 && by > 0) proxy_increment_metric(<u32>id, by);
}

/** Sets a gauge (Envoy's record_metric sets a gauge, where it adds to a counter). */
export function setGauge(id: i64, value: u64): void {
  if (id >= 0) proxy_record_metric(<u32>id, value);
}

// @ts-ignore: decorator
@external("env", "proxy_log")
declare function proxy_log(level: i32, message: usize, size: usize): u32;
const LOG_INFO: i32 = 2;
const LOG_CRITICAL: i32 = 5;

export function logInfo(p: usize, n: i32): void { proxy_log(LOG_INFO, p, <usize>n); }

export function logCritical(text: string): void {
  const enc = String.UTF8.encode(text);
  proxy_log(LOG_CRITICAL, changetype<usize>(enc), <usize>enc.byteLength);
}
