// The emulated Envoy around one plugin: loads the module the way Envoy does (refusing what
// Envoy would refuse), starts the VM and the root context, hands out HTTP streams, and
// applies the failure policy after a VM fails.
// Start-up order (proxy-wasm-cpp-host src/wasm.cc startVm/start/configure, src/context.cc
// onStart/onConfigure): _initialize (+ main) or _start, then proxy_on_context_create(root, 0)
// with the plugin configuration readable, proxy_on_vm_start(root, vm config size), then
// proxy_on_configure(root, plugin config size). A 0 from either fails the plugin, and Envoy
// rejects the configuration.
// Failure policy (Envoy source/extensions/common/wasm/wasm.cc PluginConfig::createContext and
// maybeReloadHandleIfNeeded): FAIL_CLOSED gives new streams a Context without a VM (503);
// FAIL_OPEN leaves the filter out of new streams; FAIL_RELOAD creates a new VM for the next
// stream after a runtime error, at most once per backoff interval (base 1 s, jittered up to
// +50%, JitteredLowerBoundBackOffStrategy), and fails closed until then.

import { readFileSync } from "node:fs";
import { AbiVersion, ModuleCheck, checkModule } from "./abi";
import { BaseContext } from "./context";
import { LogLevel, logLevelNumber } from "./constants";
import { HostCore, HostOptions, LogEntry, resolveOptions } from "./core";
import { MetricKind } from "./metrics";
import { HttpContext, StreamListener } from "./stream";
import { WasmVm } from "./vm";
import { Wasm, WasmModule } from "./wasm-api";

export class ProxyWasmHost {
  private readonly core: HostCore;
  private vm?: WasmVm;
  private isStarted = false;
  private lastLoadMs = 0;
  private connections = 0;

  private constructor(private readonly module: WasmModule, private readonly check: ModuleCheck, options: HostOptions) {
    this.core = new HostCore(resolveOptions(options));
    this.core.queueReady = (rootId, token) => {
      const vm = this.vm;
      const root = vm?.contexts.get(rootId);
      if (!vm || !root) return;
      vm.call(root, "proxy_on_queue_ready", rootId, token);
      vm.afterCall();
    };
  }

  /**
   * Compiles the module (sync). Throws an Error naming every import Envoy would not provide
   * for the module's ABI (or with another signature), like Envoy refusing to load it.
   */
  static load(wasm: string | Uint8Array, options: HostOptions = {}): ProxyWasmHost {
    const what = typeof wasm === "string" ? wasm : "the wasm module";
    const bytes = typeof wasm === "string" ? readFileSync(wasm) : wasm;
    let check: ModuleCheck;
    try {
      check = checkModule(bytes);
    } catch (e) {
      throw new Error(`Envoy cannot load ${what}: ${(e as Error).message}`);
    }
    if (check.problems.length > 0) {
      throw new Error(`Envoy would refuse to load ${what} (${check.problems.length} problem(s)):\n- ${check.problems.join("\n- ")}`);
    }
    let module: WasmModule;
    try {
      module = new Wasm.Module(bytes);
    } catch (e) {
      throw new Error(`Envoy cannot compile ${what}: ${(e as Error).message}`);
    }
    return new ProxyWasmHost(module, check, options);
  }

  /** Creates the root context, calls proxy_on_vm_start and proxy_on_configure. */
  start(): boolean {
    if (this.isStarted) return true;
    const vm = this.createVm();
    this.lastLoadMs = this.core.opts.monotonicMs();
    if (!vm) {
      // PluginConfig's callback (source/extensions/common/wasm/plugin.cc), then
      // getOrCreateThreadLocalPlugin (wasm.cc), which reads the deprecated fail_open field (never
      // set here), not failure_policy: Envoy 1.40 prints its second line under FAIL_OPEN too.
      this.core.log(5, `Plugin ${this.core.opts.pluginName} failed to load`);
      this.core.log(5, "Plugin configured to fail closed failed to load");
      this.core.runPosted();
      return false;
    }
    this.vm = vm;
    this.isStarted = true;
    this.core.runPosted();
    return true;
  }

  get started(): boolean {
    return this.isStarted;
  }

  newHttpContext(listener?: StreamListener): HttpContext {
    if (!this.isStarted || !this.vm) {
      throw new Error("newHttpContext: the plugin is not started; call start() first (Envoy rejects a plugin whose start or configure fails)");
    }
    this.maybeReload();
    const vm = this.vm;
    const id = ++this.connections;
    if (!vm.failed) return new HttpContext(this.core, vm, "vm", id, listener);
    const mode = this.core.opts.failurePolicy === "FAIL_OPEN" ? "bypass" : "failed";
    return new HttpContext(this.core, undefined, mode, id, listener);
  }

  /** Fires the root context's timer once (proxy_on_tick) if the module set a tick period. */
  tick(): void {
    const vm = this.vm;
    const root = vm?.rootContext;
    if (!vm || !root || vm.tickPeriodMs === 0) return;
    vm.call(root, "proxy_on_tick", root.id);
    vm.afterCall();
    this.core.runPosted();
  }

  /** Period set by proxy_set_tick_period_milliseconds, 0 when none. */
  get tickPeriodMs(): number {
    return this.vm?.tickPeriodMs ?? 0;
  }

  get abi(): AbiVersion {
    return this.check.abi as AbiVersion;
  }

  logs(minLevel: LogLevel = "trace"): LogEntry[] {
    const min = logLevelNumber(minLevel);
    return this.core.logEntries.filter((e) => logLevelNumber(e.level) >= min);
  }

  clearLogs(): void {
    this.core.logEntries.length = 0;
  }

  /** Metric value by the name the module defined (no "wasmcustom." prefix); histograms give their sample count. */
  metric(name: string): number | undefined {
    const m = this.core.stats.find(name);
    if (!m) return undefined;
    return m.kind === "histogram" ? m.samples.length : Number(m.value);
  }

  metrics(): Map<string, { type: MetricKind; value: number }> {
    const out = new Map<string, { type: MetricKind; value: number }>();
    for (const m of this.core.stats.all()) {
      out.set(m.name, { type: m.kind, value: m.kind === "histogram" ? m.samples.length : Number(m.value) });
    }
    return out;
  }

  /** What Envoy's /stats/prometheus shows for these custom metrics. */
  prometheus(): string {
    return this.core.stats.prometheus();
  }

  /** Bytes of linear memory the current VM instance has (grows, never shrinks): for leak checks. */
  get memoryBytes(): number {
    return this.vm?.mem.size ?? 0;
  }

  get traps(): number {
    return this.core.traps;
  }

  get lastTrap(): Error | undefined {
    return this.core.lastTrap;
  }

  get vmFailed(): boolean {
    return !!this.vm?.failed;
  }

  private maybeReload(): void {
    const vm = this.vm as WasmVm;
    if (vm.failed?.state !== "RuntimeError" || this.core.opts.failurePolicy !== "FAIL_RELOAD") return;
    const base = this.core.opts.reloadBaseIntervalMs;
    const interval = base + (base >= 2 ? Math.floor(Math.random() * Math.floor(base / 2)) : 0);
    const now = this.core.opts.monotonicMs();
    if (now - this.lastLoadMs < interval) return;
    this.lastLoadMs = now;
    const fresh = this.createVm();
    if (fresh) this.vm = fresh;
    else this.core.log(3, `Failed to reload Wasm plugin ${this.core.opts.pluginName}`);
  }

  private createVm(): WasmVm | undefined {
    const o = this.core.opts;
    const vm = new WasmVm(this.core, this.module, this.check);
    if (!vm.instantiate()) return undefined;
    const vmContext = vm.current;
    if (vm.has("_initialize")) {
      vm.callRestricted(vmContext, "_initialize");
      if (vm.has("main")) vm.callRestricted(vmContext, "main", 0, 0);
    } else if (vm.has("_start")) {
      vm.callRestricted(vmContext, "_start");
    }
    if (vm.failed) return undefined;
    const root = new BaseContext(vm, vm.allocContextId(), true);
    vm.contexts.set(root.id, root);
    vm.rootContext = root;
    root.pluginConfigVisible = true;
    vm.call(root, "proxy_on_context_create", root.id, 0);
    root.pluginConfigVisible = false;
    root.created = true;
    const started = vm.has("proxy_on_vm_start") ? vm.call(root, "proxy_on_vm_start", root.id, o.vmConfig.length) : 1;
    vm.afterCall();
    if (vm.failed || !started) {
      vm.fail("StartFailed", "Failed to start base Wasm");
      return undefined;
    }
    root.pluginConfigVisible = true;
    const configured = vm.has("proxy_on_configure") ? vm.call(root, "proxy_on_configure", root.id, o.pluginConfig.length) : 1;
    root.pluginConfigVisible = false;
    vm.afterCall();
    if (vm.failed || !configured) {
      vm.fail("ConfigureFailed", "Failed to configure base Wasm plugin");
      return undefined;
    }
    return vm;
  }
}
