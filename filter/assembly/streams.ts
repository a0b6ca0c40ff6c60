// Live stream contexts by id. Envoy numbers contexts upwards, so a direct-mapped table finds
// almost every stream with one load; ids that collide with a live stream go to a Map.
// Finished streams are kept for reuse, so a request allocates no stream state.
//
// The table and the spare list hold raw pointers, each owning one reference taken by hand
// (__retain) and given back by hand (__release): AssemblyScript 0.17 counts references on
// every load from and store to a managed array, and this runs for every request.
import { RootContext } from "@solo-io/proxy-runtime";
import { McpStream, Shared } from "./stream";

const SLOTS: u32 = 1024; // a power of two
const MAX_SPARE: i32 = 64;
const slots = memory.data(<i32>SLOTS * 4);
const spare = memory.data(MAX_SPARE * 4);

@inline function slotOf(id: u32): usize { return slots + (<usize>(id & (SLOTS - 1)) << 2); }

export class StreamTable {
  private overflow: Map<u32, McpStream> = new Map<u32, McpStream>();
  private spares: i32 = 0;

  /** The live stream with this id (a pointer to use at once, with changetype), or 0. */
  find(id: u32): usize {
    const p = load<usize>(slotOf(id));
    if (p != 0 && changetype<McpStream>(p).context_id == id) return p;
    if (this.overflow.has(id)) return changetype<usize>(this.overflow.get(id));
    return 0;
  }

  /**
   * Opens the stream of a new context: a finished one made ready again, or a new one. The
   * root (a RootContext) and its Shared come as pointers, which are not reference-counted;
   * the root context keeps both alive.
   */
  open(id: u32, root: usize, shared: usize): void {
    let p: usize;
    if (this.spares > 0) {
      this.spares--;
      p = load<usize>(spare + (<usize>this.spares << 2)); // its reference moves to the table
      changetype<McpStream>(p).reuse(id, root, shared);
    } else {
      const s = new McpStream(id, changetype<RootContext>(root), changetype<Shared>(shared));
      p = __retain(changetype<usize>(s)); // the table's reference
    }
    const at = slotOf(id);
    if (load<usize>(at) == 0) { store<usize>(at, p); return; }
    this.overflow.set(id, changetype<McpStream>(p)); // the map takes its own reference
    __release(p);
  }

  /** Forgets the stream and keeps it for reuse; false if there is none with this id. */
  remove(id: u32): bool {
    const at = slotOf(id);
    const p = load<usize>(at);
    if (p != 0 && changetype<McpStream>(p).context_id == id) {
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
      store<usize>(spare + (<usize>this.spares << 2), p);
      this.spares++;
    } else {
      __release(p);
    }
  }
}
