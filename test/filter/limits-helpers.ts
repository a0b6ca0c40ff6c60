// Rate-limit tests drive several emulated workers (hosts that share one SharedDataStore, as the
// worker VMs of one Envoy share one) on one emulated clock the test advances.
import { ProxyWasmHost, SharedDataStore, HostOptions } from "../../filter/host";
import { startHost, post, call, Exchange } from "./helpers";

/** The example of the docs: gzip-* 5 times a minute per user, any tool 120 times a minute per user. */
export const EXAMPLE_LIMITS = [
  { name: "gzip-per-user", key: "user", tools: ["gzip-*"], maxTokens: 5, tokensPerFill: 5, fillInterval: "1m" },
  { name: "calls-per-user", key: "user", maxTokens: 120, tokensPerFill: 120, fillInterval: "1m" },
];

export class Clock {
  ns = 1_700_000_000_000_000_000n;
  advanceMs(ms: number): void { this.ns += BigInt(ms) * 1_000_000n; }
  read = (): bigint => this.ns;
}

/** Workers of one emulated Envoy: hosts on one shared-data store and one clock. */
export class Workers {
  readonly store = new SharedDataStore();
  readonly clock = new Clock();
  readonly hosts: ProxyWasmHost[];
  private next = 0;

  constructor(policy: unknown, count = 2, options: HostOptions = {}) {
    this.hosts = Array.from({ length: count }, () => startHost(policy, { ...options, sharedData: this.store, clock: this.clock.read }));
  }

  /** Posts `body` as `user` on the next worker in turn. */
  post(user: string, body: string): Exchange {
    const host = this.hosts[this.next++ % this.hosts.length];
    return post(host, body, { headers: [["x-user-id", user]] });
  }

  call(user: string, tool: string, id: number | string = 1): Exchange {
    return this.post(user, call(tool, id));
  }

  /** How many of `n` calls of `tool` by `user` went through. */
  passes(user: string, tool: string, n: number): number {
    let passed = 0;
    for (let i = 0; i < n; i++) if (this.call(user, tool, i).forwarded) passed++;
    return passed;
  }

  /** A counter summed over the workers, as Envoy sums each VM's. */
  metric(name: string): number {
    return this.hosts.reduce((sum, h) => sum + (h.metric(name) ?? 0), 0);
  }
}

export function policyWith(limits: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { defaultAction: "allow", userHeader: "x-user-id", limits, ...extra };
}
