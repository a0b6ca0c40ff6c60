// Live stream contexts by id. Envoy numbers contexts upwards, so a direct-mapped table finds
// almost every stream with one load; ids that collide with a live stream go to a Map.
// Finished streams are kept for reuse, so a request allocates no stream state.
import { McpStream } from "./stream";

const SLOTS: u32 = 1024; // a power of two
const MAX_SPARE = 64;
// The streams of `slots` as raw pointers, which find() reads without reference counting
// (AssemblyScript 0.17 counts every reference it loads); `slots` holds the references that
// keep them alive, and both change together.
const rawSlots = memory.data(<i32>SLOTS * 4);

export class StreamTable {
  private slots: Array<McpStream | null> = new Array<McpStream | null>(<i32>SLOTS);
  private overflow: Map<u32, McpStream> = new Map<u32, McpStream>();
  private spare: Array<McpStream> = [];

  /** The live stream with this id (a pointer to use at once, with changetype), or 0. */
  find(id: u32): usize {
    const p = load<usize>(rawSlots + (<usize>(id & (SLOTS - 1)) << 2));
    if (p != 0 && changetype<McpStream>(p).context_id == id) return p;
    if (this.overflow.has(id)) return changetype<usize>(this.overflow.get(id));
    return 0;
  }

  add(id: u32, s: McpStream): void {
    const i = <i32>(id & (SLOTS - 1));
    if (unchecked(this.slots[i]) === null) {
      unchecked(this.slots[i] = s);
      store<usize>(rawSlots + (<usize>i << 2), changetype<usize>(s));
    } else this.overflow.set(id, s);
  }

  /** Forgets the stream and keeps it for reuse. */
  remove(id: u32): bool {
    const i = <i32>(id & (SLOTS - 1));
    const s = unchecked(this.slots[i]);
    if (s !== null && (s as McpStream).context_id == id) {
      unchecked(this.slots[i] = null);
      store<usize>(rawSlots + (<usize>i << 2), 0);
      this.recycle(s as McpStream);
      return true;
    }
    if (!this.overflow.has(id)) return false;
    this.recycle(this.overflow.get(id));
    this.overflow.delete(id);
    return true;
  }

  /** A finished stream to reuse, or null. */
  takeSpare(): McpStream | null {
    if (this.spare.length == 0) return null;
    return this.spare.pop();
  }

  private recycle(s: McpStream): void {
    if (this.spare.length < MAX_SPARE) this.spare.push(s);
  }
}
