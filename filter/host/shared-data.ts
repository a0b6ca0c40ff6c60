// Proxy-wasm shared data as Envoy keeps it (proxy-wasm-cpp-host src/shared_data.cc, which
// Envoy's wasm extension uses through ContextBase::getSharedData/setSharedData):
// - one store per process, a map per vm_id: every VM of a vm_id (one per worker thread) sees
//   the same keys;
// - get of a missing key (or of a vm_id with no keys) is NotFound; a found value comes with
//   its cas;
// - set: if the key exists and cas is not 0 and not the key's cas, CasMismatch; otherwise the
//   value is stored (a missing key is created whatever cas is named) with the next cas;
// - cas numbers come from one counter for the whole store, starting at 1 and skipping 0 when
//   it wraps (SharedData::nextCas);
// - ABI 0.2.0 has no delete; Envoy drops a vm_id's keys once no VM of it is left
//   (deleteByVmId, on the last VmIdHandle), which a test here does with dropVmId.
// Several ProxyWasmHosts given one SharedDataStore (HostOptions.sharedData) are the worker
// VMs of one Envoy.

import { WasmResult } from "./constants";

export interface SharedValue { value: Buffer; cas: number }

export class SharedDataStore {
  private readonly data = new Map<string, Map<string, SharedValue>>();
  private nextCas = 1;
  /**
   * Called inside set, before the cas is compared: what it writes lands first, as another
   * worker's write between a guest's get and its set would. For tests of cas conflicts.
   */
  beforeSet?: (vmId: string, key: string) => void;

  get(vmId: string, key: string): SharedValue | undefined {
    const entry = this.data.get(vmId)?.get(key);
    return entry && { value: Buffer.from(entry.value), cas: entry.cas };
  }

  set(vmId: string, key: string, value: Uint8Array, cas: number): number {
    const hook = this.beforeSet;
    if (hook) {
      this.beforeSet = undefined; // a hook that writes must not call itself
      try { hook(vmId, key); } finally { this.beforeSet = hook; }
    }
    let map = this.data.get(vmId);
    if (!map) this.data.set(vmId, (map = new Map()));
    const cur = map.get(key);
    if (cur && cas !== 0 && cas !== cur.cas) return WasmResult.CasMismatch;
    map.set(key, { value: Buffer.from(value), cas: this.takeCas() });
    return WasmResult.Ok;
  }

  /** The keys of a vm_id, for tests that look at what the guest stored. */
  keys(vmId: string): string[] {
    return [...(this.data.get(vmId)?.keys() ?? [])];
  }

  dropVmId(vmId: string): void {
    this.data.delete(vmId);
  }

  private takeCas(): number {
    const c = this.nextCas;
    this.nextCas = (this.nextCas + 1) >>> 0 || 1;
    return c;
  }
}
