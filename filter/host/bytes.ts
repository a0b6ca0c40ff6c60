// A growable byte buffer for bodies: appending chunk after chunk while a filter
// buffers must not copy the whole body each time.

const EMPTY: Buffer = Buffer.alloc(0);

const BUFFER_PROTOTYPE = Buffer.prototype;

export class ByteBuffer {
  private start = 0;
  private end: number;

  /** Empty, or over `data` (see wrap). */
  private constructor(
    private data: Buffer = EMPTY,
    /** False while `data` is the caller's chunk: the first write copies it (copy on write). */
    private owned = true,
  ) {
    this.end = data.length;
  }

  static empty(): ByteBuffer {
    return new ByteBuffer();
  }

  /** Uses `chunk` without copying it; the caller's bytes are never modified. */
  static wrap(chunk: Uint8Array): ByteBuffer {
    // A Buffer already is the view we need; only other Uint8Arrays get a Buffer over them.
    // (Comparing the prototype costs a fraction of Buffer.isBuffer's instanceof.)
    const data = Object.getPrototypeOf(chunk) === BUFFER_PROTOTYPE ? (chunk as Buffer) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    return new ByteBuffer(data, false);
  }

  get length(): number {
    return this.end - this.start;
  }

  /** The bytes, as a view that stays valid until the next mutation. */
  view(): Buffer {
    // The whole backing Buffer (a wrapped chunk, typically) needs no new view object.
    if (this.start === 0 && this.end === this.data.length) return this.data;
    return this.data.subarray(this.start, this.end);
  }

  /** Bytes [start, start + length) of the content, clamped to its end, as one view. */
  range(start: number, length: number): Buffer {
    const s = Math.min(this.start + start, this.end);
    const e = Math.min(s + length, this.end);
    // As in view(): the whole backing Buffer needs no new view (Buffer#subarray is costly).
    if (s === 0 && e === this.data.length) return this.data;
    return this.data.subarray(s, e);
  }

  append(src: Uint8Array): void {
    if (src.length === 0) return;
    if (!this.owned || this.end + src.length > this.data.length) this.reserve(src.length, 0);
    this.data.set(src, this.end);
    this.end += src.length;
  }

  prepend(src: Uint8Array): void {
    if (src.length === 0) return;
    if (!this.owned || src.length > this.start) this.reserve(0, src.length);
    this.start -= src.length;
    this.data.set(src, this.start);
  }

  /** Removes up to n bytes from the front (Envoy OwnedImpl::drain stops at the end). */
  drain(n: number): void {
    this.start += Math.min(n, this.length);
    if (this.start === this.end) this.start = this.end = 0;
  }

  clear(): void {
    this.start = this.end = 0;
  }

  /** Makes room for `tail` more bytes at the end and `head` more at the front. */
  private reserve(tail: number, head: number): void {
    const len = this.length;
    const size = Math.max(this.data.length * 2, len + tail + head + 64);
    const next = Buffer.allocUnsafe(size);
    const newStart = head > 0 ? head + 64 : 0;
    if (len > 0) this.data.copy(next, newStart, this.start, this.end);
    this.data = next;
    this.owned = true;
    this.start = newStart;
    this.end = newStart + len;
  }
}
