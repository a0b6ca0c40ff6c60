// The proxy-wasm callbacks of stream contexts, and the table of live streams.
//
// Streams are dispatched here rather than by proxy-runtime's exports, which build debug log
// strings (including a join of every live context id) on every callback: O(live streams) work
// per request. Root contexts (vm start, configure) still go through proxy-runtime.
//
// Envoy numbers contexts upwards, so a direct-mapped table finds almost every stream with one
// load; ids that collide with a live stream go to a Map. Finished streams are kept for reuse,
// so a request allocates no stream state. The table and the spare list hold raw pointers, each
// owning one reference taken by hand (__retain) and given back by hand (__release):
// AssemblyScript 0.17 counts references on every load from and store to a managed array, and
// this runs for every request.
import { ensureRootContext, getRootContext, getBaseContext, deleteContext } from "@solo-io/proxy-runtime/runtime";
import { recordVmMemory } from "./host";

const SLOTS: u32 = 1024; // a power of two
const MAX_SPARE: i32 = 64;

// The table of live streams and the spare list: one of each for the module's one Streams.
const SLOTS_AT = memory.data(<i32>SLOTS * 4);
const SPARE_AT = memory.data(MAX_SPARE * 4);

@inline function slotOf(slots: usize, id: u32): usize { return slots + (<usize>(id & (SLOTS - 1)) << 2); }

/**
 * The live streams, and the proxy-wasm callbacks of streams. `R` is the filter's root context
 * class, with serves(): bool (false when it refused its configuration) and newStream(id): S;
 * `S` its stream context class, with reuse(id, root: R), which readies a finished stream for a
 * new context. Generic rather than abstract classes with virtual methods: the calls are direct,
 * and AssemblyScript 0.17 can leave an override out of a virtual call (it then traps).
 * One per module: the exports in index.ts call it.
 */
export class Streams<R, S> {
  private slots: usize = SLOTS_AT;
  private spare: usize = SPARE_AT;
  private spares: i32 = 0;
  private overflow: Map<u32, S> = new Map<u32, S>();
  // Root contexts proxy-runtime knows; any other id that is not a live stream is unknown to it
  // (a stream of a root that refused its configuration), and its lookup would trap.
  private roots: Array<i32> = [];
  private lastRootId: u32 = 0;
  private lastRoot: usize = 0; // the root context of lastRootId; proxy-runtime keeps it alive

  /** `refuseUnserved` answers the request headers of a stream no configured root serves. */
  constructor(private refuseUnserved: () => u32) {}

  /** The live stream with this id (a pointer to use at once, with changetype), or 0. */
  private find(id: u32): usize {
    const p = load<usize>(slotOf(this.slots, id));
    if (p != 0 && changetype<S>(p).context_id == id) return p;
    if (this.overflow.has(id)) return changetype<usize>(this.overflow.get(id));
    return 0;
  }

  contextCreate(id: u32, rootId: u32): void {
    if (rootId == 0) { ensureRootContext(id); this.roots.push(<i32>id); return; }
    // One root serves every stream; skip proxy-runtime's map lookup when it is the same one.
    if (rootId != this.lastRootId) { this.lastRoot = changetype<usize>(getRootContext(rootId)); this.lastRootId = rootId; }
    if (!changetype<R>(this.lastRoot).serves()) return; // a root that refused its configuration serves no streams
    let p: usize;
    if (this.spares > 0) {
      this.spares--;
      p = load<usize>(this.spare + (<usize>this.spares << 2)); // its reference moves to the table
      changetype<S>(p).reuse(id, changetype<R>(this.lastRoot));
    } else {
      p = __retain(changetype<usize>(changetype<R>(this.lastRoot).newStream(id))); // the table's reference
    }
    const at = slotOf(this.slots, id);
    if (load<usize>(at) == 0) { store<usize>(at, p); return; }
    this.overflow.set(id, changetype<S>(p)); // the map takes its own reference
    __release(p);
  }

  requestHeaders(id: u32, headers: u32, endOfStream: u32): u32 {
    const s = this.find(id);
    if (s == 0) return this.refuseUnserved();
    return changetype<S>(s).onRequestHeaders(headers, endOfStream != 0);
  }

  requestBody(id: u32, size: u32, endOfStream: u32): u32 {
    const s = this.find(id);
    if (s == 0) return 0;
    return changetype<S>(s).onRequestBody(size, endOfStream != 0);
  }

  requestTrailers(id: u32, trailers: u32): u32 {
    const s = this.find(id);
    if (s == 0) return 0;
    return changetype<S>(s).onRequestTrailers(trailers);
  }

  responseHeaders(id: u32, headers: u32, endOfStream: u32): u32 {
    const s = this.find(id);
    if (s == 0) return 0;
    return changetype<S>(s).onResponseHeaders(headers, endOfStream != 0);
  }

  responseBody(id: u32, size: u32, endOfStream: u32): u32 {
    const s = this.find(id);
    if (s == 0) return 0;
    return changetype<S>(s).onResponseBody(size, endOfStream != 0);
  }

  responseTrailers(id: u32, trailers: u32): u32 {
    const s = this.find(id);
    if (s == 0) return 0;
    return changetype<S>(s).onResponseTrailers(trailers);
  }

  done(id: u32): u32 {
    if (this.find(id) != 0 || this.roots.indexOf(<i32>id) < 0) return 1;
    return getBaseContext(id).onDone() ? 1 : 0;
  }

  delete(id: u32): void {
    // At a stream's end its allocations are done: between requests the gauge holds the VM's size.
    if (this.remove(id)) { recordVmMemory(); return; }
    const i = this.roots.indexOf(<i32>id);
    if (i < 0) return;
    this.roots.splice(i, 1);
    getBaseContext(id).onDelete();
    deleteContext(id);
  }

  /** Forgets the stream and keeps it for reuse; false if there is none with this id. */
  private remove(id: u32): bool {
    const at = slotOf(this.slots, id);
    const p = load<usize>(at);
    if (p != 0 && changetype<S>(p).context_id == id) {
      store<usize>(at, 0);
      this.recycle(p);
      return true;
    }
    if (!this.overflow.has(id)) return false;
    const q = __retain(changetype<usize>(this.overflow.get(id)));
    this.overflow.delete(id);
    this.recycle(q);
    return true;
  }

  /** Takes over the reference `p` owns: kept as a spare, or given back. */
  private recycle(p: usize): void {
    if (this.spares < MAX_SPARE) {
      store<usize>(this.spare + (<usize>this.spares << 2), p);
      this.spares++;
    } else {
      __release(p);
    }
  }
}
