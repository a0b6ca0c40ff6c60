// One instance of the module, as proxy-wasm-cpp-host's WasmBase + V8 WasmVm hold it:
// the instance, its memory, its contexts, the context a host call acts on, the queue of
// "after VM call" actions (DeferAfterCallActions) and the failed state.
// A trap, or a JS exception escaping a host function, fails the VM (v8.cc: a trap ->
// fail(FailState::RuntimeError)); every later call into it is refused.

import { AbiVersion, ModuleCheck } from "./abi";
import { BaseContext } from "./context";
import { HostCore } from "./core";
import { buildImports } from "./imports";
import { GuestMemory } from "./memory";
import { VmMetrics } from "./metrics";
import { Wasm, WasmInstance, WasmMemory, WasmModule, isMemory } from "./wasm-api";

type Fn = (...args: number[]) => number | undefined;

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
  readonly contexts = new Map<number, BaseContext>();
  /** The context whose callback is running (current_context_). */
  current: BaseContext;
  /** set_effective_context target for the rest of the current VM call, 0 if none. */
  effectiveId = 0;
  rootContext?: BaseContext;
  failed?: { state: FailState; message: string };
  restricted: ReadonlySet<string> | null = null;
  /** Set by send_local_response: the current callback's result becomes a stop. */
  stopIteration = false;
  tickPeriodMs = 0;
  mem!: GuestMemory;
  /** Set by instantiate() once the instance exists (its start function runs before). */
  private instance?: WasmInstance;
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
      this.instance = instance;
      const memory = imports.memory ?? Object.values(instance.exports).find(isMemory);
      if (!this.mem) this.mem = new GuestMemory(memory as WasmMemory, (size) => this.malloc(size));
    } catch (e) {
      this.fail("UnableToInitializeCode", `Failed to create new Wasm instance: ${(e as Error).message}`);
      return false;
    }
    return true;
  }

  /** The exported function `name`, or undefined when the module exports none. */
  private exported(name: string): Fn | undefined {
    const v = this.instance?.exports[name];
    return typeof v === "function" ? (v as Fn) : undefined;
  }

  has(name: string): boolean {
    return this.exported(name) !== undefined;
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
  call(ctx: BaseContext, name: string, ...args: number[]): number | undefined {
    const fn = this.exported(name);
    if (!fn || this.failed) return undefined;
    const prevCurrent = this.current;
    const prevEffective = this.effectiveId;
    this.current = ctx;
    this.effectiveId = 0;
    try {
      const r = fn(...args);
      return this.failed ? undefined : typeof r === "number" ? r >>> 0 : 0;
    } catch (err) {
      this.trap(name, err);
      return undefined;
    } finally {
      this.current = prevCurrent;
      this.effectiveId = prevEffective;
    }
  }

  /** Runs a start-up export (_start, _initialize, main) with the restricted host call set. */
  callRestricted(ctx: BaseContext, name: string, ...args: number[]): void {
    this.restricted = START_ALLOWED;
    try {
      this.call(ctx, name, ...args);
    } finally {
      this.restricted = null;
    }
  }

  private malloc(size: number): number {
    const name = this.has("malloc") ? "malloc" : "proxy_on_memory_allocate";
    const fn = this.exported(name);
    // WasmBase::allocMemory: no malloc looked up yet (a start function runs before) -> nullptr.
    if (!fn) return 0;
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
