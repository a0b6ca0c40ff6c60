// A body buffer as Envoy's Buffer::OwnedImpl holds one: a list of slices, so that appending
// chunk after chunk while a filter buffers does not copy the whole body each time.

export class ByteBuffer {
  /** Copies of the bytes handed in: some are views of guest memory, which the module changes later. */
  private slices: Buffer[] = [];
  private size = 0;

  /** Empty, or holding a copy of `data`. */
  constructor(data?: Uint8Array) {
    if (data) this.append(data);
  }

  get length(): number {
    return this.size;
  }

  /** The whole content, joined into one new Buffer. */
  view(): Buffer {
    return Buffer.concat(this.slices, this.size);
  }

  /** Bytes [start, start + length) of the content, clamped to its end. */
  range(start: number, length: number): Buffer {
    return this.view().subarray(start, start + length);
  }

  append(src: Uint8Array): void {
    this.slices.push(Buffer.from(src));
    this.size += src.length;
  }

  prepend(src: Uint8Array): void {
    this.slices.unshift(Buffer.from(src));
    this.size += src.length;
  }

  /** Removes up to n bytes from the front (Envoy OwnedImpl::drain stops at the end). */
  drain(n: number): void {
    const rest = this.view().subarray(n);
    this.slices = [rest];
    this.size = rest.length;
  }
}
