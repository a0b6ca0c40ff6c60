// A minimal wasm binary encoder for test modules: imports, exported functions with raw
// instruction bytes, one memory, a bump-allocating malloc, and data segments for strings.

export type ValType = "i32" | "i64";
const VT: Record<ValType, number> = { i32: 0x7f, i64: 0x7e };

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: bigint): number[] {
  const out: number[] = [];
  for (;;) {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    const done = (n === 0n && (b & 0x40) === 0) || (n === -1n && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

const str = (s: string): number[] => {
  const b = Buffer.from(s, "utf8");
  return [...uleb(b.length), ...b];
};
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

// Instructions.
export const op = {
  i32: (n: number): number[] => [0x41, ...sleb(BigInt(n | 0))],
  i64: (n: bigint): number[] => [0x42, ...sleb(BigInt.asIntN(64, n))],
  call: (f: number): number[] => [0x10, ...uleb(f)],
  get: (i: number): number[] => [0x20, ...uleb(i)],
  set: (i: number): number[] => [0x21, ...uleb(i)],
  load: (offset = 0): number[] => [0x28, 2, ...uleb(offset)],
  store: (offset = 0): number[] => [0x36, 2, ...uleb(offset)],
  store8: (offset = 0): number[] => [0x3a, 0, ...uleb(offset)],
  drop: [0x1a],
  add: [0x6a],
  eq: [0x46],
  ifVoid: [0x04, 0x40],
  ifI32: [0x04, 0x7f],
  else: [0x05],
  end: [0x0b],
  unreachable: [0x00],
  ret: [0x0f],
};

interface Func { params: ValType[]; results: ValType[]; locals: ValType[]; body: number[]; exportAs?: string }
interface Import { module: string; name: string; params: ValType[]; results: ValType[]; kind: "func" | "global" }

export class ModuleBuilder {
  private readonly imports: Import[] = [];
  private readonly funcs: Func[] = [];
  private readonly data: Array<{ at: number; bytes: Buffer }> = [];
  private dataEnd = 256;
  memoryPages = 2;
  exportMemory = true;

  importFunc(module: string, name: string, params: ValType[], results: ValType[]): number {
    if (this.funcs.length > 0) throw new Error("declare imports before functions");
    this.imports.push({ module, name, params, results, kind: "func" });
    return this.imports.filter((i) => i.kind === "func").length - 1;
  }

  importGlobal(module: string, name: string): void {
    this.imports.push({ module, name, params: [], results: [], kind: "global" });
  }

  /** Adds a function; body is the instruction bytes without the final `end`. Returns its index. */
  func(params: ValType[], results: ValType[], body: number[], exportAs?: string, locals: ValType[] = []): number {
    this.funcs.push({ params, results, locals, body, exportAs });
    return this.imports.filter((i) => i.kind === "func").length + this.funcs.length - 1;
  }

  /** Places bytes in memory below the heap; returns where. */
  bytes(b: Buffer | string): { ptr: number; len: number } {
    const bytes = typeof b === "string" ? Buffer.from(b, "utf8") : b;
    const at = this.dataEnd;
    this.data.push({ at, bytes });
    this.dataEnd = at + bytes.length + 8 - ((at + bytes.length) % 8);
    if (this.dataEnd > HEAP_START) throw new Error("test data does not fit below the heap");
    return { ptr: at, len: bytes.length };
  }

  build(): Uint8Array {
    const types: string[] = [];
    const typeIndex = (p: ValType[], r: ValType[]): number => {
      const key = `${p.join()}>${r.join()}`;
      let i = types.indexOf(key);
      if (i < 0) i = types.push(key) - 1;
      return i;
    };
    const importEntries = this.imports.map((im) =>
      im.kind === "func"
        ? [...str(im.module), ...str(im.name), 0x00, ...uleb(typeIndex(im.params, im.results))]
        : [...str(im.module), ...str(im.name), 0x03, 0x7f, 0x00]);
    const funcTypes = this.funcs.map((f) => uleb(typeIndex(f.params, f.results)));
    const typeSection = types.map((k) => {
      const [p, r] = k.split(">").map((s) => (s ? (s.split(",") as ValType[]) : []));
      return [0x60, ...vec(p.map((t) => [VT[t]])), ...vec(r.map((t) => [VT[t]]))];
    });
    const nImportFuncs = this.imports.filter((i) => i.kind === "func").length;
    const exportEntries = this.funcs
      .map((f, i) => (f.exportAs ? [...str(f.exportAs), 0x00, ...uleb(nImportFuncs + i)] : []))
      .filter((e) => e.length > 0);
    if (this.exportMemory) exportEntries.push([...str("memory"), 0x02, 0x00]);
    const code = this.funcs.map((f) => {
      const locals = vec(f.locals.map((t) => [1, VT[t]]));
      const body = [...locals, ...f.body, ...op.end];
      return [...uleb(body.length), ...body];
    });
    const globals = [[0x7f, 0x01, ...op.i32(HEAP_START), ...op.end]];
    const data = this.data.map((d) => [0x00, ...op.i32(d.at), ...op.end, ...uleb(d.bytes.length), ...d.bytes]);
    return Uint8Array.from([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      ...section(1, vec(typeSection)),
      ...section(2, vec(importEntries)),
      ...section(3, vec(funcTypes)),
      ...section(5, vec([[0x00, ...uleb(this.memoryPages)]])),
      ...section(6, vec(globals)),
      ...section(7, vec(exportEntries)),
      ...section(10, vec(code)),
      ...section(11, vec(data)),
    ]);
  }
}

/** Where the bump allocator starts; global 0 holds the next free address. */
export const HEAP_START = 8192;

/** malloc(size): bump allocation in global 0, growing memory when needed. */
export function mallocBody(): number[] {
  // locals: 0 = size (param), 1 = old heap
  return [
    0x23, 0x00, ...op.set(1), // old = heap
    0x23, 0x00, ...op.get(0), ...op.add, ...op.i32(7), ...op.add, ...op.i32(-8), 0x71, 0x24, 0x00, // heap = align8(heap + size)
    // grow while heap > memory.size * 65536
    0x02, 0x40, 0x03, 0x40,
    0x23, 0x00, 0x3f, 0x00, ...op.i32(16), 0x74, 0x4d, 0x0d, 0x01, // br_if 1 if heap <= size<<16 (le_u)
    ...op.i32(1), 0x40, 0x00, ...op.drop, 0x0c, 0x00, // memory.grow 1; br 0
    ...op.end, ...op.end,
    ...op.get(1),
  ];
}
