// Proxy-wasm shared data and the host clock, for the rate limits' buckets (limits.ts). Shared
// data is one key-value store per vm_id for the whole Envoy process, so every worker's VM sees
// the same buckets. Semantics (proxy-wasm-cpp-host src/shared_data.cc, src/exports.cc):
// - get of a missing key is NotFound; a found value comes with its cas, never 0;
// - set with cas 0 overwrites whatever is there; set with another cas is CasMismatch unless
//   the key's cas is that one; set of a missing key creates it whatever cas it names;
// - every successful set gives the value the next number of one process-wide counter (from
//   1, skipping 0); ABI 0.2.0 has no delete.
// A slot's value, as this layer encodes it (little-endian):
//   u8 version (2) | i32 tokens | i64 last fill (ns) | owner bytes
import { Bytes } from "./bytes";
import { StaticBuffer, outPtr, outSize } from "./memory";

// @ts-ignore: decorator
@external("env", "proxy_get_shared_data")
declare function proxy_get_shared_data(key: usize, keySize: usize, valuePtr: usize, valueSize: usize, cas: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_shared_data")
declare function proxy_set_shared_data(key: usize, keySize: usize, value: usize, valueSize: usize, cas: u32): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_current_time_nanoseconds")
declare function proxy_get_current_time_nanoseconds(result: usize): u32;

// WasmResult values (proxy-wasm spec) the callers tell apart.
export const SHARED_OK: u32 = 0;
export const SHARED_NOT_FOUND: u32 = 1;
export const SHARED_CAS_MISMATCH: u32 = 8;
/** getSlot: the key holds a value this layer did not write (another version): free to take. */
export const SHARED_FOREIGN: u32 = 0x100;

// Version 1 also kept the time of the last use, for an eviction the limits no longer make.
const VERSION: u8 = 2;
const HEADER: i32 = 13; // version, tokens, last fill
const SLOT_STATIC: i32 = 512;

const casOut = memory.data(4);
const timeOut = memory.data(8);
const slotValue = new StaticBuffer(memory.data(SLOT_STATIC, 16), SLOT_STATIC);

/** A bucket as a slot holds it, and the cas it was read with. */
export class Slot {
  cas: u32 = 0;
  tokens: i32 = 0;
  lastFill: i64 = 0;
  /** Whose bucket it is (limits.ts decides the bytes). */
  owner: Bytes = new Bytes(64);
}

/**
 * Reads the slot under `key` into `slot`: SHARED_OK, SHARED_NOT_FOUND, SHARED_FOREIGN (a value
 * of another layout; its cas is read) or the host's error.
 */
export function getSlot(key: Bytes, slot: Slot): u32 {
  store<u32>(casOut, 0);
  slotValue.arm();
  const status = proxy_get_shared_data(key.ptr, <usize>key.len, outPtr, outSize, casOut);
  slotValue.took(status);
  if (status != SHARED_OK) return status;
  slot.cas = load<u32>(casOut);
  const p = slotValue.ptr;
  const n = slotValue.len;
  slot.owner.reset();
  if (n < HEADER || load<u8>(p) != VERSION) { slotValue.drop(); return SHARED_FOREIGN; }
  slot.tokens = load<i32>(p + 1);
  slot.lastFill = load<i64>(p + 5);
  slot.owner.raw(p + <usize>HEADER, n - HEADER);
  slotValue.drop();
  return SHARED_OK;
}

// The value being written; the host copies it during the call.
const encoded = new Bytes(128);

/** Writes `slot` under `key` if the key's cas is still `cas` (see above for 0 and a missing key). */
export function setSlot(key: Bytes, slot: Slot, cas: u32): u32 {
  encoded.reset();
  encoded.ensure(HEADER + slot.owner.len);
  encoded.byte(VERSION);
  encoded.u32(<u32>slot.tokens);
  encoded.u32(<u32>(slot.lastFill & 0xffffffff)); encoded.u32(<u32>(slot.lastFill >>> 32));
  encoded.raw(slot.owner.ptr, slot.owner.len);
  return proxy_set_shared_data(key.ptr, <usize>key.len, encoded.ptr, <usize>encoded.len, cas);
}

/** The host's wall clock in nanoseconds (Envoy: the dispatcher's time source); 0 if it refused. */
export function nowNanos(): i64 {
  store<u64>(timeOut, 0);
  proxy_get_current_time_nanoseconds(timeOut);
  return load<i64>(timeOut);
}
