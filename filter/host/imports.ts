// Builds the import object from Envoy's table (abi.ts): every function the module imports
// gets its implementation; imported memories and tables are created as V8 in
// proxy-wasm-cpp-host does (src/v8/v8.cc link). checkModule has already refused anything
// Envoy does not provide, so a missing implementation here is a bug in this emulator.

import { WASI_MODULES, envoyImportTable } from "./abi";
import { proxyFunctions } from "./imports-proxy";
import { serviceFunctions } from "./imports-services";
import { wasiFunctions } from "./imports-wasi";
import type { WasmVm } from "./vm";
import { Wasm, WasmImportValue, WasmImports, WasmMemory } from "./wasm-api";
import type { ModuleInfo } from "./wasm-binary";

type HostFn = (...args: never[]) => unknown;
export type HostFunctions = Record<string, HostFn>;

export function buildImports(vm: WasmVm, info: ModuleInfo): { object: WasmImports; memory?: WasmMemory } {
  const table = envoyImportTable(vm.abi);
  const wasiAndOthers = wasiFunctions(vm);
  const env: HostFunctions = { ...proxyFunctions(vm), ...serviceFunctions(vm), ...wasiAndOthers.env };
  const wasi = wasiAndOthers.wasi;
  const object: WasmImports = {};
  let memory: WasmMemory | undefined;
  for (const im of info.imports) {
    const mod = (object[im.module] ??= {});
    if (im.kind === "memory") {
      memory = new Wasm.Memory({ initial: im.limits.min, maximum: im.limits.max });
      mod[im.name] = memory;
    } else if (im.kind === "table") {
      mod[im.name] = new Wasm.Table({ initial: im.limits.min, maximum: im.limits.max, element: "anyfunc" });
    } else if (im.kind === "function") {
      const key = `${im.module}.${im.name}`;
      const impl = im.module === "env" ? env[im.name] : (WASI_MODULES as readonly string[]).includes(im.module) ? wasi[im.name] : undefined;
      if (!table.has(key) || !impl) throw new Error(`emulator has no implementation for ${key}`);
      mod[im.name] = guard(vm, key, impl);
    }
  }
  return { object, memory };
}

/** Envoy traps host calls made while the host restricts them (startVm, allocMemory). */
function guard(vm: WasmVm, key: string, fn: HostFn): WasmImportValue {
  const trace = vm.core.opts.onHostCall;
  return (...args: never[]) => {
    trace?.(key);
    vm.checkRestricted(key);
    return fn(...args);
  };
}
