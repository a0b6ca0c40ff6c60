// Types for the part of the JS WebAssembly API the host uses. The project's tsconfig has
// lib ES2022 and @types/node 20, neither of which declares WebAssembly (it lives in
// lib.dom and newer @types/node); a local declaration avoids adding a global one that
// could clash with another file's.

export interface WasmMemory { readonly buffer: ArrayBuffer; grow(delta: number): number }
export type WasmModule = object;
export type WasmImportValue = WasmMemory | object | ((...args: never[]) => unknown);
export type WasmImports = Record<string, Record<string, WasmImportValue>>;
export interface WasmInstance { readonly exports: Record<string, unknown> }

interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: WasmImports) => WasmInstance;
  Memory: new (d: { initial: number; maximum?: number }) => WasmMemory;
  Table: new (d: { initial: number; maximum?: number; element: "anyfunc" }) => object;
  RuntimeError: new (message?: string) => Error;
}

export const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export function isMemory(x: unknown): x is WasmMemory {
  return x instanceof (Wasm.Memory as unknown as new () => object);
}
