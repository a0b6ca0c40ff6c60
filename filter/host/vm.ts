// One instance of the module, as proxy-wasm-cpp-host's WasmBase + V8 WasmVm hold it:
// the instance, its memory, its contexts, the context a host call acts on, the queue of
// "after VM call" actions (DeferAfterCallActions) and the failed state.
// A trap, or a JS exception escaping a host function, fails the VM (v8.cc: a trap ->
// fail(FailState::RuntimeError)); every later call into it is refused.

import { AbiVersion, ModuleCheck } from "./abi";
import { BaseContext } from "./context";
import { ContextTable } from "./context-table";
import { HostCore } from "./core";
import { buildImports } from "./imports";
import { GuestMemory } from "./memory";
import { VmMetrics } from "./metrics";
import { Wasm, WasmMemory, WasmModule, isMemory } from "./wasm-api";

type Fn = (...args: number[]) => number | undefined;

/**
 * An export as the host calls it, resolved once per instance: a Map lookup by name and
 * Function#length (an accessor call) on every VM call showed in profiles.
 */
export interface Export { readonly name: string; readonly fn: Fn; readonly arity: number }

/** The callbacks of one direction of an HTTP stream. */
export interface SideExports { readonly headers?: Export; readonly body?: Export; readonly trailers?: Export }

/** The callbacks an HTTP stream makes, resolved once per instance (undefined: not exported). */
export interface StreamExports {
  readonly contextCreate?: Export;
  readonly request: SideExports;
  readonly response: SideExports;
  readonly log?: Export;
  readonly done?: Export;
  readonly delete?: Export;
}

export type FailState = "RuntimeError" | "StartFailed" | "ConfigureFailed" | "UnableToInitializeCode";

/** Thrown by a host function to trap the guest (e.g. a restricted host call). */
export class HostTrap extends Error {}

// Host calls allowed while the module's _start/_initialize runs (src/wasm.cc startVm) and
// while the host calls malloc (include/proxy-wasm/wasm.h allocMemory); anything else traps.
const START_ALLOWED = new Set([
  "env.emscripten_notify_memory_growth", "env.proxy_log",
  ...["fd_write", "args_sizes_get", "args_get", "environ_sizes_get", "environ_get", "fd_prestat_get",
    "fd_prestat_dir_name", "clock_time_get", "random_get", "fd_fdstat_get", "fd_fdstat_set_flags"]
    .flatMap((n) => [`wasi_unstable.${n}`, `wasi_snapshot_preview1.${n}`]),
]);
const MALLOC_ALLOWED = new Set([
  "env.proxy_log",
  ...["fd_write", "clock_time_get"].flatMap((n) => [`wasi_unstable.${n}`, `wasi_snapshot_preview1.${n}`]),
]);

export class WasmVm {
  readonly abi: AbiVersion;
  readonly metrics: VmMetrics;
  readonly contexts = new ContextTable();
  /** The context whose callback is running (current_context_). */
  current: BaseContext;
  /** set_effective_context target for the rest of the current VM call, 0 if none. */
  effectiveId = 0;
  rootContext?: BaseContext;
  failed?: { state: FailState; message: string };
  restricted: ReadonlySet<string> | null = null;
  private mallocName?: string;
  private mallocFn?: Fn;
  /** Set by send_local_response: the current callback's result becomes a stop. */
  stopIteration = false;
  tickPeriodMs = 0;
  mem!: GuestMemory;
  /** The exported functions only, in a Map: the instance's exports object is slow to index by name. */
  private exports = new Map<string, Export>();
  /** Set by instantiate(). */
  stream!: StreamExports;
  private readonly actions: Array<() => void> = [];
  private nextContextId = 1;

  constructor(readonly core: HostCore, private readonly module: WasmModule, private readonly check: ModuleCheck) {
    this.abi = check.abi as AbiVersion;
    this.metrics = new VmMetrics(core.stats);
    this.current = new BaseContext(this, 0, false);
    this.contexts.set(0, this.current);
  }

  /** Links and instantiates; false (and failed) when V8 would not create the instance. */
  instantiate(): boolean {
    const imports = buildImports(this, this.check.info);
    try {
      // The views must exist before the start section runs: it may call host functions.
      if (imports.memory) this.mem = new GuestMemory(imports.memory, (size) => this.malloc(size));
      const instance = new Wasm.Instance(this.module, imports.object);
      for (const [name, v] of Object.entries(instance.exports)) {
        if (typeof v === "function") this.exports.set(name, { name, fn: v as Fn, arity: v.length });
      }
      this.stream = this.streamExports();
      const memory = imports.memory ?? Object.values(instance.exports).find(isMemory);
      if (!this.mem) this.mem = new GuestMemory(memory as WasmMemory, (size) => this.malloc(size));
    } catch (e) {
      this.fail("UnableToInitializeCode", `Failed to create new Wasm instance: ${(e as Error).message}`);
      return false;
    }
    return true;
  }

  has(name: string): boolean {
    return this.exports.has(name);
  }

  export(name: string): Export | undefined {
    return this.exports.get(name);
  }

  private streamExports(): StreamExports {
    const side = (dir: string): SideExports => ({
      headers: this.export(`proxy_on_${dir}_headers`), body: this.export(`proxy_on_${dir}_body`), trailers: this.export(`proxy_on_${dir}_trailers`),
    });
    return {
      contextCreate: this.export("proxy_on_context_create"), request: side("request"), response: side("response"),
      log: this.export("proxy_on_log"), done: this.export("proxy_on_done"), delete: this.export("proxy_on_delete"),
    };
  }

  allocContextId(): number {
    while (this.contexts.has(this.nextContextId)) this.nextContextId++;
    return this.nextContextId++;
  }

  /** contextOrEffectiveContext() */
  ctx(): BaseContext {
    if (this.effectiveId !== 0) {
      const c = this.contexts.get(this.effectiveId);
      if (c) return c;
    }
    return this.current;
  }

  /**
   * Calls an export with `ctx` as current context. Returns the result as unsigned i32 (0 for
   * void), or undefined when the export is absent, the VM has failed, or the call trapped.
   */
  call(ctx: BaseContext, name: string, a?: number, b?: number, c?: number, d?: number, e?: number): number | undefined {
    return this.callExport(ctx, this.exports.get(name), a, b, c, d, e);
  }

  /** call() for an export resolved beforehand. */
  callExport(ctx: BaseContext, ex: Export | undefined, a?: number, b?: number, c?: number, d?: number, e?: number): number | undefined {
    if (!ex || this.failed) return undefined;
    const fn = ex.fn;
    const prevCurrent = this.current;
    const prevEffective = this.effectiveId;
    this.current = ctx;
    this.effectiveId = 0;
    try {
      // Exact arity: the JS-to-wasm call stays on V8's fast path.
      let r: number | undefined;
      switch (ex.arity) {
        case 0: r = fn(); break;
        case 1: r = fn(a as number); break;
        case 2: r = fn(a as number, b as number); break;
        case 3: r = fn(a as number, b as number, c as number); break;
        default: r = fn(a as number, b as number, c as number, d as number, e as number);
      }
      return this.failed ? undefined : typeof r === "number" ? r >>> 0 : 0;
    } catch (err) {
      this.trap(ex.name, err);
      return undefined;
    } finally {
      this.current = prevCurrent;
      this.effectiveId = prevEffective;
    }
  }

  /** Runs a start-up export (_start, _initialize, main) with the restricted host call set. */
  callRestricted(ctx: BaseContext, name: string, a?: number, b?: number): void {
    this.restricted = START_ALLOWED;
    try {
      this.call(ctx, name, a, b);
    } finally {
      this.restricted = null;
    }
  }

  private malloc(size: number): number {
    // Cached once found (a start function may allocate before the exports are known).
    let name = this.mallocName;
    let fn = this.mallocFn;
    if (!fn || !name) {
      name = this.has("malloc") ? "malloc" : "proxy_on_memory_allocate";
      fn = this.exports.get(name)?.fn as Fn;
      if (fn) { this.mallocName = name; this.mallocFn = fn; }
    }
    const saved = this.restricted;
    this.restricted = MALLOC_ALLOWED;
    try {
      return (fn(size) ?? 0) >>> 0;
    } catch (err) {
      // WasmBase::allocMemory: malloc trapped -> VM failed, the host call sees nullptr.
      this.trap(name, err);
      return 0;
    } finally {
      this.restricted = saved;
    }
  }

  checkRestricted(name: string): void {
    if (this.restricted && !this.restricted.has(name)) {
      this.core.log(0, `restricted_callback: ${name}`);
      throw new HostTrap(`restricted_callback: ${name} may not be called here`);
    }
  }

  addAfterCallAction(f: () => void): void {
    this.actions.push(f);
  }

  /** DeferAfterCallActions' destructor: clear the stop flag, run what the call queued. */
  afterCall(): void {
    this.stopIteration = false;
    while (this.actions.length > 0) (this.actions.shift() as () => void)();
  }

  trap(fnName: string, err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    this.core.traps++;
    this.core.lastTrap = e;
    const message = `Function: ${fnName} failed: ${e.name === "RuntimeError" ? "Uncaught RuntimeError: " : ""}${e.message}`;
    // The runtime fails itself (WasmVm::fail, proxy-wasm-cpp-host include/proxy-wasm/wasm_vm.h)
    // and logs through its integration, which Envoy writes as it is, at error level
    // (source/extensions/common/wasm/wasm_vm.cc EnvoyWasmVmIntegration::error).
    if (this.failed) return;
    this.failed = { state: "RuntimeError", message };
    this.core.log(4, message);
  }

  /** WasmBase::fail: Envoy's Wasm::error (source/extensions/common/wasm/wasm.cc) logs
   *  "Wasm VM failed <message>" at error level, also after a trap (on_configure trapping logs both). */
  fail(state: FailState, message: string): void {
    this.failed ??= { state, message };
    this.core.log(4, `Wasm VM failed ${message}`);
  }
}
