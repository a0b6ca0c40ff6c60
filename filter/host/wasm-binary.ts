// Reads the parts of a wasm binary that decide whether Envoy will load it: the
// signature of every import and export. The JS WebAssembly API reports names and
// kinds only, so the type, import, function and export sections are decoded here.

export type ValType = "i32" | "i64" | "f32" | "f64" | "v128" | "funcref" | "externref";
export interface FuncSig { params: ValType[]; results: ValType[] }
export interface Limits { min: number; max?: number }

export type ImportDesc =
  | { module: string; name: string; kind: "function"; sig: FuncSig }
  | { module: string; name: string; kind: "table"; element: ValType; limits: Limits }
  | { module: string; name: string; kind: "memory"; limits: Limits }
  | { module: string; name: string; kind: "global" };

export interface ExportDesc { name: string; kind: "function" | "table" | "memory" | "global"; sig?: FuncSig }

export interface ModuleInfo {
  imports: ImportDesc[];
  exports: ExportDesc[];
  /** Declared (not imported) memories. */
  memories: Limits[];
}

const VAL_TYPES: Record<number, ValType> = {
  0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128", 0x70: "funcref", 0x6f: "externref",
};
const EXPORT_KINDS = ["function", "table", "memory", "global"] as const;

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}
  byte(): number {
    if (this.pos >= this.bytes.length) throw new Error("wasm binary is truncated");
    return this.bytes[this.pos++];
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) throw new Error("wasm binary has an over-long LEB128 number");
    }
  }
  name(): string {
    const n = this.u32();
    const s = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.pos, n).toString("utf8");
    this.pos += n;
    return s;
  }
  valType(): ValType {
    const b = this.byte();
    const t = VAL_TYPES[b];
    if (!t) throw new Error(`wasm binary has unknown value type 0x${b.toString(16)}`);
    return t;
  }
  limits(): Limits {
    const flags = this.byte();
    const min = this.u32();
    return flags & 1 ? { min, max: this.u32() } : { min };
  }
}

export function parseModule(bytes: Uint8Array): ModuleInfo {
  const r = new Reader(bytes);
  const magic = [0x00, 0x61, 0x73, 0x6d];
  if (bytes.length < 8 || magic.some((m, i) => bytes[i] !== m)) throw new Error("not a wasm module (bad magic number)");
  r.pos = 8;
  const types: FuncSig[] = [];
  const imports: ImportDesc[] = [];
  const funcTypes: number[] = []; // function index space: imported functions first
  const memories: Limits[] = [];
  const rawExports: Array<{ name: string; kind: number; index: number }> = [];
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (id === 1) {
      for (let n = r.u32(); n > 0; n--) {
        if (r.byte() !== 0x60) throw new Error("wasm binary has a non-function type");
        const params: ValType[] = [];
        for (let k = r.u32(); k > 0; k--) params.push(r.valType());
        const results: ValType[] = [];
        for (let k = r.u32(); k > 0; k--) results.push(r.valType());
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let n = r.u32(); n > 0; n--) {
        const module = r.name();
        const name = r.name();
        const kind = r.byte();
        if (kind === 0) {
          const t = r.u32();
          funcTypes.push(t);
          imports.push({ module, name, kind: "function", sig: types[t] });
        } else if (kind === 1) {
          const element = r.valType();
          imports.push({ module, name, kind: "table", element, limits: r.limits() });
        } else if (kind === 2) {
          imports.push({ module, name, kind: "memory", limits: r.limits() });
        } else if (kind === 3) {
          r.valType();
          r.byte();
          imports.push({ module, name, kind: "global" });
        } else {
          throw new Error(`wasm binary has unknown import kind ${kind}`);
        }
      }
    } else if (id === 3) {
      for (let n = r.u32(); n > 0; n--) funcTypes.push(r.u32());
    } else if (id === 5) {
      for (let n = r.u32(); n > 0; n--) memories.push(r.limits());
    } else if (id === 7) {
      for (let n = r.u32(); n > 0; n--) rawExports.push({ name: r.name(), kind: r.byte(), index: r.u32() });
    }
    r.pos = end;
  }
  const exports = rawExports.map(({ name, kind, index }): ExportDesc => {
    const k = EXPORT_KINDS[kind];
    if (!k) throw new Error(`wasm binary has unknown export kind ${kind}`);
    return k === "function" ? { name, kind: k, sig: types[funcTypes[index]] } : { name, kind: k };
  });
  return { imports, exports, memories };
}

export function formatSig(sig: FuncSig): string {
  return `(${sig.params.join(", ")}) -> (${sig.results.join(", ")})`;
}

export function sameSig(a: FuncSig, b: FuncSig): boolean {
  return a.params.join() === b.params.join() && a.results.join() === b.results.join();
}
