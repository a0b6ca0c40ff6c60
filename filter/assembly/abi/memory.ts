// The allocator the host calls, and the static buffers it hands out for data read on every
// request, so that reading a header map or a request body allocates nothing.
import { free } from "@solo-io/proxy-runtime/malloc";

export const OK: u32 = 0;

// Out-params the host writes: a pointer (to memory it allocated with malloc) and a size.
export const outPtr = memory.data(8);
export const outSize = memory.data(8);

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

  /** `capacity` bytes of static memory of its own. */
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
