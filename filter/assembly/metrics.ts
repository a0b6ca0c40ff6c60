// Counters, and one gauge, through proxy_define_metric. Envoy names each `wasmcustom.<name>`; its
// /stats/prometheus drops that prefix and turns `.` and `-` into `_`.
// Client-chosen strings (methods, tool names) never create unbounded stats: methods
// outside the MCP set count as `other`, and tool names beyond MAX_TOOL_LABELS as `_other`.
import { Bytes, ascii, sameBytes, defineCounter, defineVmMemoryGauge, incrementCounter } from "./abi";

const PREFIX = "mcp_filter.";
const MAX_TOOL_LABELS = 100;
const MAX_LABEL = 64;
const MAX_TOOL_NAME = 256;

const KNOWN_METHODS: string[] = [
  "initialize", "ping", "tools/list", "tools/call", "resources/list", "resources/templates/list",
  "resources/read", "resources/subscribe", "resources/unsubscribe", "prompts/list", "prompts/get",
  "completion/complete", "logging/setLevel", "tasks/get", "tasks/result", "tasks/list", "tasks/cancel",
  "notifications/initialized", "notifications/cancelled", "notifications/progress",
  "notifications/roots/list_changed", "notifications/tasks/status",
];

/**
 * Byte strings packed into one buffer, found by linear search: a lookup compares lengths
 * first and touches no per-entry objects (AssemblyScript 0.17 would reference-count them).
 */
class Names {
  private text: Bytes = new Bytes(256);
  private at: Array<i32> = [];
  private lens: Array<i32> = [];

  get length(): i32 { return this.at.length; }

  add(p: usize, n: i32): void {
    this.at.push(this.text.len);
    this.lens.push(n);
    this.text.raw(p, n);
  }

  /** Index of the name equal to the `n` bytes at `p`, or -1. */
  find(p: usize, n: i32): i32 {
    const base = this.text.ptr;
    const count = this.at.length;
    for (let i = 0; i < count; i++) {
      if (this.lens[i] == n && sameBytes(base + <usize>this.at[i], p, n)) return i;
    }
    return -1;
  }
}

export class Metrics {
  private methodNames: Names = new Names();
  private methodIds: Array<i64> = [];
  private otherMethod: i64 = -1;
  private responseId: i64 = -1;
  // Tool names seen so far (at most MAX_TOOL_LABELS) and their counters.
  private toolNames: Names = new Names();
  private toolIdList: Array<i64> = [];
  private otherTool: i64 = -1;
  private denyIds: Array<i64> = [];
  private wouldDenyIds: Array<i64> = [];
  private limitedIds: Array<i64> = [];
  private wouldLimitIds: Array<i64> = [];
  parseErrors: i64 = -1;
  invalid: i64 = -1;
  oversize: i64 = -1;
  unjudgeable: i64 = -1;
  toolsHidden: i64 = -1;
  batches: i64 = -1;
  configErrors: i64 = -1;

  constructor() {
    this.configErrors = defineCounter(PREFIX + "config_errors");
    defineVmMemoryGauge(PREFIX + "vm_memory_bytes");
  }

  /** Defines the fixed counters once the rules and limits are known (labels: rule names + `default`, limit names). */
  define(ruleNames: string[], limitNames: string[]): void {
    for (let i = 0; i < KNOWN_METHODS.length; i++) {
      const name = ascii(KNOWN_METHODS[i]);
      this.methodNames.add(name.ptr, name.len);
      this.methodIds.push(defineCounter(PREFIX + "requests." + label(KNOWN_METHODS[i])));
    }
    this.otherMethod = defineCounter(PREFIX + "requests.other");
    this.responseId = defineCounter(PREFIX + "requests.client_response");
    for (let i = 0; i <= ruleNames.length; i++) {
      // (if/else, not ?: — AssemblyScript 0.17 miscounts references in mixed-string ternaries)
      let name = "default";
      if (i < ruleNames.length) name = ruleNames[i];
      this.denyIds.push(defineCounter(PREFIX + "denied." + name));
      this.wouldDenyIds.push(defineCounter(PREFIX + "would_deny." + name));
    }
    for (let i = 0; i < limitNames.length; i++) {
      this.limitedIds.push(defineCounter(PREFIX + "rate_limited." + limitNames[i]));
      this.wouldLimitIds.push(defineCounter(PREFIX + "would_rate_limit." + limitNames[i]));
    }
    this.parseErrors = defineCounter(PREFIX + "parse_errors");
    this.invalid = defineCounter(PREFIX + "invalid_requests");
    this.oversize = defineCounter(PREFIX + "oversize_bodies");
    this.unjudgeable = defineCounter(PREFIX + "unjudgeable_bodies");
    this.toolsHidden = defineCounter(PREFIX + "tools_hidden");
    this.batches = defineCounter(PREFIX + "batches");
  }

  // Names come as spans (`n` bytes at `p`): AssemblyScript 0.17 reference-counts Bytes arguments.

  /** A message's method; n < 0: a client's response, which has none. */
  method(p: usize, n: i32): void {
    if (n < 0) { incrementCounter(this.responseId); return; }
    const i = this.methodNames.find(p, n);
    incrementCounter(i >= 0 ? this.methodIds[i] : this.otherMethod);
  }

  tool(p: usize, n: i32): void {
    const i = this.toolNames.find(p, n);
    if (i >= 0) { incrementCounter(this.toolIdList[i]); return; }
    // Names are kept to be found again; a long one (MCP asks for at most 128 characters) is not.
    if (this.toolNames.length >= MAX_TOOL_LABELS || n > MAX_TOOL_NAME) {
      if (this.otherTool < 0) this.otherTool = defineCounter(PREFIX + "tool_calls._other");
      incrementCounter(this.otherTool);
      return;
    }
    // Names that sanitize alike share one counter: Envoy keeps one stat per name, and labels
    // hold only what /stats/prometheus keeps, so two stats never show as one series.
    const id = defineCounter(PREFIX + "tool_calls." + label(String.UTF8.decodeUnsafe(p, <usize>n)));
    this.toolNames.add(p, n);
    this.toolIdList.push(id);
    incrementCounter(id);
  }

  /** rule < 0 is the default action, counted last. */
  denied(rule: i32, monitor: bool): void {
    const i = rule < 0 ? this.denyIds.length - 1 : rule;
    incrementCounter(monitor ? this.wouldDenyIds[i] : this.denyIds[i]);
  }

  /** A call over limit `i` (in config order): refused, or in monitor mode forwarded. */
  rateLimited(i: i32, monitor: bool): void {
    incrementCounter(monitor ? this.wouldLimitIds[i] : this.limitedIds[i]);
  }

  count(id: i64, n: i32 = 1): void { incrementCounter(id, n); }
}

/**
 * A label as /stats/prometheus would show it: [A-Za-z0-9_] (anything else becomes "_"), at most
 * MAX_LABEL characters.
 */
export function label(s: string): string {
  let out = "";
  const n = s.length < MAX_LABEL ? s.length : MAX_LABEL;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f;
    if (ok) out += String.fromCharCode(c);
    else out += "_";
  }
  if (out.length == 0) return "_empty";
  return out;
}
