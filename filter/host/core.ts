// Process-wide services of the emulated Envoy that outlive any one VM instance:
// options, the log, the stats store, shared queues, posted tasks (shared data: shared-data.ts).

import { LogLevel, WasmResult, logLevelNumber } from "./constants";
import type { LocalReplyMapper } from "./localreply";
import { MetricStore } from "./metrics";
import { SharedDataStore } from "./shared-data";

export type FailurePolicy = "FAIL_CLOSED" | "FAIL_OPEN" | "FAIL_RELOAD";
export interface LogEntry { level: LogLevel; message: string }

export interface HostOptions {
  /** Plugin `configuration` (StringValue) bytes, as Envoy passes them. */
  pluginConfig?: string;
  /** vm_config.configuration */
  vmConfig?: string;
  /** Default "mcp_filter". */
  rootId?: string;
  /** Default: rootId. */
  pluginName?: string;
  /** Default "". */
  vmId?: string;
  /** PluginConfig field 9; default false, as in Envoy. */
  allowOnHeadersStopIteration?: boolean;
  /** PluginConfig field 7; default FAIL_CLOSED, as in Envoy. */
  failurePolicy?: FailurePolicy;
  /** Envoy's level for the wasm logger; lower messages are dropped. Default "info". */
  logLevel?: LogLevel;
  /** Called for every kept log line. */
  onLog?: (entry: LogEntry) => void;
  /** Wall clock in ns for proxy_get_current_time_nanoseconds and clock_time_get(realtime). */
  clock?: () => bigint;
  /** Monotonic clock in ms, for the FAIL_RELOAD backoff. Default performance.now. */
  monotonicMs?: () => number;
  /** PluginConfig.reload_config.backoff.base_interval in ms; Envoy's default is 1000. */
  reloadBaseIntervalMs?: number;
  /** vm_config.environment_variables.key_values, for WASI environ_get. */
  env?: Record<string, string>;
  /** HCM/cluster per_connection_buffer_limit_bytes; Envoy's default is 1 MiB. */
  bufferLimitBytes?: number;
  /** How many kept log lines logs() remembers; older ones are dropped. Default 10000. */
  maxLogEntries?: number;
  /** Called with the import's name ("env.proxy_log") before every host function the module calls. */
  onHostCall?: (name: string) => void;
  /** The HCM's local_reply_config, applied to every local reply before the filters see it.
   *  Default: none (Envoy's default body format: the body as it is, text/plain). */
  mapLocalReply?: LocalReplyMapper;
  /** The process's shared data; hosts given the same store are workers of one Envoy. Default: a store of its own. */
  sharedData?: SharedDataStore;
}

export interface ResolvedOptions {
  pluginConfig: Buffer;
  vmConfig: Buffer;
  rootId: string;
  pluginName: string;
  vmId: string;
  allowOnHeadersStopIteration: boolean;
  failurePolicy: FailurePolicy;
  logLevel: number;
  onLog?: (entry: LogEntry) => void;
  clock: () => bigint;
  monotonicMs: () => number;
  reloadBaseIntervalMs: number;
  env: Array<[string, string]>;
  bufferLimitBytes: number;
  maxLogEntries: number;
  onHostCall?: (name: string) => void;
  mapLocalReply?: LocalReplyMapper;
  sharedData: SharedDataStore;
}

const POLICIES: readonly FailurePolicy[] = ["FAIL_CLOSED", "FAIL_OPEN", "FAIL_RELOAD"];

export function resolveOptions(o: HostOptions): ResolvedOptions {
  const rootId = o.rootId ?? "mcp_filter";
  const failurePolicy = o.failurePolicy ?? "FAIL_CLOSED";
  if (!POLICIES.includes(failurePolicy)) {
    throw new Error(`failurePolicy "${failurePolicy}" is not one of ${POLICIES.join(", ")}`);
  }
  const reload = o.reloadBaseIntervalMs ?? 1000;
  if (!(reload >= 0)) throw new Error(`reloadBaseIntervalMs must be >= 0, got ${reload}`);
  const limit = o.bufferLimitBytes ?? 1024 * 1024;
  if (!(limit > 0)) throw new Error(`bufferLimitBytes must be > 0, got ${limit}`);
  const maxLogEntries = o.maxLogEntries ?? 10000;
  if (!(maxLogEntries >= 0)) throw new Error(`maxLogEntries must be >= 0, got ${maxLogEntries}`);
  return {
    pluginConfig: Buffer.from(o.pluginConfig ?? "", "utf8"),
    vmConfig: Buffer.from(o.vmConfig ?? "", "utf8"),
    rootId,
    pluginName: o.pluginName ?? rootId,
    vmId: o.vmId ?? "",
    allowOnHeadersStopIteration: o.allowOnHeadersStopIteration ?? false,
    failurePolicy,
    logLevel: logLevelNumber(o.logLevel ?? "info"),
    onLog: o.onLog,
    clock: o.clock ?? (() => BigInt(Date.now()) * 1000000n),
    monotonicMs: o.monotonicMs ?? (() => performance.now()),
    reloadBaseIntervalMs: reload,
    env: Object.entries(o.env ?? {}),
    bufferLimitBytes: limit,
    maxLogEntries,
    onHostCall: o.onHostCall,
    mapLocalReply: o.mapLocalReply,
    sharedData: o.sharedData ?? new SharedDataStore(),
  };
}

const LEVEL_NAMES: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error", "critical"];

interface Queue { vmId: string; rootContextId: number; items: Buffer[] }

export class HostCore {
  readonly logEntries: LogEntry[] = [];
  readonly stats = new MetricStore();
  traps = 0;
  lastTrap?: Error;
  private readonly queues = new Map<number, Queue>();
  private readonly queueTokens = new Map<string, number>();
  private nextQueueToken = 1;
  private readonly posted: Array<() => void> = [];
  /** Delivers proxy_on_queue_ready to the VM that currently serves the plugin. */
  queueReady?: (rootContextId: number, token: number) => void;

  constructor(readonly opts: ResolvedOptions) {}

  log(level: number, message: string): void {
    if (level < this.opts.logLevel) return;
    const entry: LogEntry = { level: LEVEL_NAMES[level], message };
    this.logEntries.push(entry);
    // A long-running gateway logs a line per request: keep only the latest lines.
    while (this.logEntries.length > this.opts.maxLogEntries) this.logEntries.shift();
    this.opts.onLog?.(entry);
  }

  // Shared queues (src/shared_queue.cc): tokens start at 1, 0 means "not found".
  registerQueue(vmId: string, name: string, rootContextId: number): number {
    const k = `${vmId}\0${name}`;
    let token = this.queueTokens.get(k);
    if (token === undefined) {
      token = this.nextQueueToken++;
      this.queueTokens.set(k, token);
      this.queues.set(token, { vmId, rootContextId, items: [] });
    }
    const q = this.queues.get(token) as Queue;
    q.rootContextId = rootContextId;
    return token;
  }

  resolveQueue(vmId: string, name: string): number {
    return this.queueTokens.get(`${vmId}\0${name}`) ?? 0;
  }

  dequeue(token: number): { result: number; data?: Buffer } {
    const q = this.queues.get(token);
    if (!q) return { result: WasmResult.NotFound };
    const data = q.items.shift();
    return data ? { result: WasmResult.Ok, data } : { result: WasmResult.Empty };
  }

  enqueue(token: number, data: Buffer, onReady: (rootContextId: number) => void): number {
    const q = this.queues.get(token);
    if (!q) return WasmResult.NotFound;
    q.items.push(Buffer.from(data));
    this.post(() => onReady(q.rootContextId));
    return WasmResult.Ok;
  }

  /** Envoy's dispatcher.post: runs once the current event (driver call) is done. */
  post(task: () => void): void {
    this.posted.push(task);
  }

  runPosted(): void {
    while (this.posted.length > 0) (this.posted.shift() as () => void)();
  }
}
