// Rate limits on tools/call: token buckets in proxy-wasm shared data, so that every worker's VM
// of one Envoy spends one budget (filter/README.md, "Rate limits", has the layout and why).
// A limit has a fixed number of slots (maxKeys). A key (the user, the tool, or both) hashes to
// a home slot and is looked for in PROBE slots from there; a slot holds one key's bucket and
// names its owner. A new key takes an empty slot, or one whose bucket is full again (idle, so
// nobody loses budget). It never takes a bucket that still owes tokens: its key would come
// back to a fresh, full one, and a client that picks its key (a tool name) could reset its own
// budget at will by crowding the slots. When every probed slot holds such a bucket, the new
// key's call is refused until one is full again. Every change is a compare-and-swap on one
// slot; a conflict reads again and decides again, so no token is spent twice; after
// MAX_ATTEMPTS conflicts the call is refused (fail closed, like the rest of the filter: a limit
// is only worth having if it holds under load and under a client that tries to get round it).
import { Bytes, RefList, equalsAt, Slot, getSlot, setSlot, nowNanos, SHARED_OK, SHARED_NOT_FOUND, SHARED_FOREIGN, SHARED_CAS_MISMATCH } from "./abi";
import { GlobList } from "./policy";

export const KEY_USER: i32 = 0;
export const KEY_TOOL: i32 = 1;
export const KEY_USER_AND_TOOL: i32 = 2;

/** Slots looked at for one key. */
const PROBE: i32 = 4;
/** Compare-and-swap conflicts one call tolerates before it is refused. */
export const MAX_ATTEMPTS: i32 = 8;
/**
 * The cas a new slot is written with: a set names a cas so that it fails if another worker
 * created the slot meanwhile (a missing key is created whatever cas is named; an existing one
 * only matches this if the host's counter gave it exactly this number, once in 2^32 writes).
 */
const CREATE_CAS: u32 = 0xffffffff;
/** Keys longer than this are kept in a slot as a 64-bit digest, not whole. */
const MAX_OWNER: i32 = 256;
const NS_PER_MS: i64 = 1000000;

export class Limit {
  name: string = "";
  nameBytes: Bytes = new Bytes(0);
  key: i32 = KEY_USER;
  tools: GlobList | null = null;
  users: GlobList | null = null;
  maxTokens: i32 = 0;
  tokensPerFill: i32 = 1;
  fillNanos: i64 = 0;
  maxKeys: i32 = 1024;
  /** The shared-data keys of its slots start with this: `mcp_filter.limit.<name>.` */
  slotPrefix: Bytes = new Bytes(0);

  /** Whether a call of the tool (`tn` bytes at `tool`) by the user (`un` bytes at `user`) counts. */
  applies(tool: usize, tn: i32, user: usize, un: i32): bool {
    if (this.tools !== null && !(this.tools as GlobList).any(tool, tn)) return false;
    if (this.users !== null && !(this.users as GlobList).any(user, un)) return false;
    return true;
  }

  /** Adds the fills due by `now` to `s`, never past maxTokens. */
  refill(s: Slot, now: i64): void {
    if (s.tokens > this.maxTokens) s.tokens = this.maxTokens; // a limit made smaller
    if (s.tokens >= this.maxTokens || now <= s.lastFill) return;
    const fills = (now - s.lastFill) / this.fillNanos;
    if (fills == 0) return;
    const room = <i64>(this.maxTokens - s.tokens);
    if (fills >= room) s.tokens = this.maxTokens; // tokensPerFill >= 1
    else s.tokens = <i32>min<i64>(<i64>this.maxTokens, <i64>s.tokens + fills * <i64>this.tokensPerFill);
    s.lastFill += fills * this.fillNanos;
  }

  /** Milliseconds until the empty bucket `s` gets its next fill (at least 1). */
  retryAfterMs(s: Slot, now: i64): i64 {
    let wait = s.lastFill + this.fillNanos - now;
    if (wait > this.fillNanos) wait = this.fillNanos; // the clock went back
    const ms = (wait + NS_PER_MS - 1) / NS_PER_MS;
    return ms < 1 ? 1 : ms;
  }

  /** Milliseconds until the bucket `s`, refilled to `now` and not full, is full again. */
  fullAfterMs(s: Slot, now: i64): i64 {
    const fills = (this.maxTokens - s.tokens + this.tokensPerFill - 1) / this.tokensPerFill;
    // At most 10^6 fills of 999999 h, about 3.6e18 ms: within i64. Durations are whole ms.
    return this.retryAfterMs(s, now) + <i64>(fills - 1) * (this.fillNanos / NS_PER_MS);
  }
}

/**
 * Takes and gives back tokens. One per configuration; its buffers are reused for every call.
 * The last call's outcome is in `slotIndex` (where the token came from) or `retryMs`.
 */
export class Buckets {
  private slot: Slot = new Slot();
  /** The key of the call being judged, and its owner bytes as a slot stores them. */
  private key: Bytes = new Bytes(64);
  private owner: Bytes = new Bytes(64);
  private slotKey: Bytes = new Bytes(64);
  slotIndex: i32 = -1;
  retryMs: i64 = 0;

  /** Sets the key a limit of kind `kind` counts the call under. */
  keyFor(kind: i32, tool: usize, tn: i32, user: usize, un: i32): void {
    const key = this.key;
    key.reset();
    if (kind == KEY_USER_AND_TOOL) {
      key.u32(<u32>un); // a length first: no user and tool pair reads as another
      key.raw(user, un);
      key.raw(tool, tn);
    } else if (kind == KEY_USER) key.raw(user, un);
    else key.raw(tool, tn);
    const owner = this.owner;
    owner.reset();
    if (key.len <= MAX_OWNER) { owner.byte(0); owner.raw(key.ptr, key.len); return; }
    const d = fnv64(key);
    owner.byte(1);
    owner.u32(<u32>(d & 0xffffffff));
    owner.u32(<u32>(d >>> 32));
  }

  /** Takes one token from the key's bucket of `limit` at `now`; false (and retryMs) when it has none. */
  take(limit: Limit, now: i64): bool {
    const n = limit.maxKeys;
    const probe = n < PROBE ? n : PROBE;
    const home = <i32>(fnv32(this.key) % <u32>n);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let found = -1;
      let target = -1;
      let targetCas: u32 = 0;
      let soonestFullMs = i64.MAX_VALUE; // when the first busy bucket of the probe is full again
      for (let i = 0; i < probe; i++) {
        const at = (home + i) % n;
        const status = this.read(limit, at);
        if (status == SHARED_NOT_FOUND) {
          // Slots are never deleted, so the key is in no slot past an empty one.
          if (target < 0) { target = at; targetCas = CREATE_CAS; }
          break;
        }
        if (status == SHARED_FOREIGN) { if (target < 0) { target = at; targetCas = this.slot.cas; } continue; }
        if (status != SHARED_OK) return this.refuseBusy();
        if (equalsAt(this.slot.owner.ptr, this.slot.owner.len, this.owner.ptr, this.owner.len)) { found = at; break; }
        limit.refill(this.slot, now);
        if (this.slot.tokens >= limit.maxTokens) {
          if (target < 0) { target = at; targetCas = this.slot.cas; }
        } else {
          soonestFullMs = min<i64>(soonestFullMs, limit.fullAfterMs(this.slot, now));
        }
      }
      let status: u32 = 0;
      if (found >= 0) {
        // this.slot and this.slotKey still hold the key's own slot.
        const s = this.slot;
        limit.refill(s, now);
        if (s.tokens <= 0) { this.retryMs = limit.retryAfterMs(s, now); return false; }
        if (s.tokens >= limit.maxTokens) s.lastFill = now; // a full bucket's fills count from its first use
        s.tokens--;
        status = setSlot(this.slotKey, s, s.cas);
        this.slotIndex = found;
      } else {
        // Every probed slot holds another key's bucket that still owes tokens.
        if (target < 0) { this.retryMs = soonestFullMs; return false; }
        const s = this.slot;
        s.tokens = limit.maxTokens - 1;
        s.lastFill = now;
        s.owner.reset();
        s.owner.raw(this.owner.ptr, this.owner.len);
        this.slotKeyFor(limit, target);
        status = setSlot(this.slotKey, s, targetCas);
        this.slotIndex = target;
      }
      if (status == SHARED_OK) return true;
      if (status != SHARED_CAS_MISMATCH) return this.refuseBusy();
    }
    return this.refuseBusy();
  }

  /** Gives the token taken from slot `at` of `limit` back, if the key still owns the slot. */
  giveBack(limit: Limit, at: i32): void {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (this.read(limit, at) != SHARED_OK) return;
      const s = this.slot;
      if (!equalsAt(s.owner.ptr, s.owner.len, this.owner.ptr, this.owner.len) || s.tokens >= limit.maxTokens) return;
      s.tokens++;
      if (setSlot(this.slotKey, s, s.cas) != SHARED_CAS_MISMATCH) return;
    }
  }

  /** The host's clock, read once per body. */
  now(): i64 { return nowNanos(); }

  private read(limit: Limit, at: i32): u32 {
    this.slotKeyFor(limit, at);
    return getSlot(this.slotKey, this.slot);
  }

  private slotKeyFor(limit: Limit, at: i32): void {
    this.slotKey.reset();
    this.slotKey.raw(limit.slotPrefix.ptr, limit.slotPrefix.len);
    this.slotKey.int(at);
  }

  /** Shared data failed or stayed contended: refused, to be tried again at once. */
  private refuseBusy(): bool {
    this.retryMs = 1;
    return false;
  }
}

function fnv32(b: Bytes): u32 {
  let h: u32 = 0x811c9dc5;
  for (let i = 0; i < b.len; i++) h = (h ^ <u32>b.at(i)) * 0x01000193;
  return h;
}

function fnv64(b: Bytes): u64 {
  let h: u64 = 0xcbf29ce484222325;
  for (let i = 0; i < b.len; i++) h = (h ^ <u64>b.at(i)) * 0x100000001b3;
  return h;
}

/** The limits of a configuration, in the order the policy lists them. */
export class Limits extends RefList<Limit> {}
