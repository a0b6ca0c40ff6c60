// env.* host functions that reach services outside the stream: metrics, shared data and
// queues, timers, time, effective context, foreign functions, and the network callouts.
// There is no network and no cluster here, so http_call/grpc_* answer what Envoy answers
// when the named cluster or service does not exist (Envoy context.cc httpCall/grpcCall).

import { deflateSync, inflateSync } from "node:zlib";
import { WasmResult } from "./constants";
import type { HostFunctions } from "./imports";
import type { WasmVm } from "./vm";

const R = WasmResult;

/** Envoy foreign.cc registers these names; the ones not emulated answer Unimplemented. */
const NOT_EMULATED_FOREIGN = new Set(["set_envoy_filter_state", "declare_property", "expr_create", "expr_evaluate", "expr_delete"]);

/** True when `b` parses as protobuf wire format (what GrpcService::ParseFromString accepts). */
export function isProtobufWire(b: Uint8Array): boolean {
  let p = 0;
  const varint = (): number | undefined => {
    let v = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (p >= b.length) return undefined;
      const x = b[p++];
      v += (x & 0x7f) * 2 ** shift;
      if ((x & 0x80) === 0) return v;
    }
    return undefined;
  };
  const groups: number[] = [];
  while (p < b.length) {
    const tag = varint();
    if (tag === undefined || tag < 8) return false;
    const field = Math.floor(tag / 8);
    const wt = tag % 8;
    if (wt === 0) { if (varint() === undefined) return false; }
    else if (wt === 1) p += 8;
    else if (wt === 5) p += 4;
    else if (wt === 2) { const n = varint(); if (n === undefined) return false; p += n; }
    else if (wt === 3) groups.push(field);
    else if (wt === 4) { if (groups.pop() !== field) return false; }
    else return false;
    if (p > b.length) return false;
  }
  return groups.length === 0;
}

export function serviceFunctions(vm: WasmVm): HostFunctions {
  const core = vm.core;
  const vmId = core.opts.vmId;
  let nextDnsToken = 0;

  const grpcOpen = (service: Uint8Array | undefined, ...others: Array<Uint8Array | undefined>): number => {
    if (!service || others.some((o) => !o)) return R.InvalidMemoryAccess;
    // Not a GrpcService proto -> taken as a cluster name, which does not exist: ParseFailure.
    // A proto (even an accidental one) -> no async client can be made for it: BadArgument.
    return isProtobufWire(service) ? R.BadArgument : R.ParseFailure;
  };

  return {
    proxy_define_metric(type: number, namePtr: number, nameSize: number, idPtr: number): number {
      const name = vm.mem.latin1(namePtr >>> 0, nameSize >>> 0);
      if (name === undefined) return R.InvalidMemoryAccess;
      const r = vm.metrics.define(type >>> 0, name);
      if (r.result !== R.Ok) return r.result;
      return vm.mem.writeU32(idPtr >>> 0, r.id as number) ? R.Ok : R.InvalidMemoryAccess;
    },

    proxy_increment_metric(id: number, offset: bigint): number {
      return vm.metrics.increment(id >>> 0, offset);
    },

    proxy_record_metric(id: number, value: bigint): number {
      return vm.metrics.record(id >>> 0, value);
    },

    proxy_get_metric(id: number, resultPtr: number): number {
      const r = vm.metrics.get(id >>> 0);
      if (r.result !== R.Ok) return r.result;
      return vm.mem.writeU64(resultPtr >>> 0, r.value as bigint) ? R.Ok : R.InvalidMemoryAccess;
    },

    proxy_get_shared_data(keyPtr: number, keySize: number, valuePtrPtr: number, valueSizePtr: number, casPtr: number): number {
      const mem = vm.mem;
      const key = mem.latin1(keyPtr >>> 0, keySize >>> 0);
      if (key === undefined) return R.InvalidMemoryAccess;
      const entry = core.opts.sharedData.get(vmId, key);
      if (!entry) return R.NotFound;
      if (!mem.copyBytesOut(entry.value, valuePtrPtr >>> 0, valueSizePtr >>> 0)) return R.InvalidMemoryAccess;
      return mem.writeU32(casPtr >>> 0, entry.cas) ? R.Ok : R.InvalidMemoryAccess;
    },

    proxy_set_shared_data(keyPtr: number, keySize: number, valuePtr: number, valueSize: number, cas: number): number {
      const mem = vm.mem;
      const key = mem.latin1(keyPtr >>> 0, keySize >>> 0);
      const value = mem.view(valuePtr >>> 0, valueSize >>> 0);
      if (key === undefined || !value) return R.InvalidMemoryAccess;
      return core.opts.sharedData.set(vmId, key, value, cas >>> 0);
    },

    proxy_register_shared_queue(namePtr: number, nameSize: number, tokenPtr: number): number {
      const mem = vm.mem;
      const name = mem.latin1(namePtr >>> 0, nameSize >>> 0);
      if (name === undefined) return R.InvalidMemoryAccess;
      // on_queue_ready goes to the root context, also when a stream registers the queue.
      const token = core.registerQueue(vmId, name, vm.ctx().root().id);
      return mem.writeU32(tokenPtr >>> 0, token) ? R.Ok : R.InvalidMemoryAccess;
    },

    proxy_resolve_shared_queue(vmIdPtr: number, vmIdSize: number, namePtr: number, nameSize: number, tokenPtr: number): number {
      const mem = vm.mem;
      const otherVm = mem.latin1(vmIdPtr >>> 0, vmIdSize >>> 0);
      const name = mem.latin1(namePtr >>> 0, nameSize >>> 0);
      if (otherVm === undefined || name === undefined) return R.InvalidMemoryAccess;
      const token = core.resolveQueue(otherVm === "" ? vmId : otherVm, name);
      if (token === 0 || vm.failed) return R.NotFound;
      return mem.writeU32(tokenPtr >>> 0, token) ? R.Ok : R.InvalidMemoryAccess;
    },

    proxy_dequeue_shared_queue(token: number, dataPtrPtr: number, dataSizePtr: number): number {
      const r = core.dequeue(token >>> 0);
      if (r.result !== R.Ok) return r.result;
      return vm.mem.copyBytesOut(r.data as Buffer, dataPtrPtr >>> 0, dataSizePtr >>> 0) ? R.Ok : R.InvalidMemoryAccess;
    },

    proxy_enqueue_shared_queue(token: number, dataPtr: number, dataSize: number): number {
      const data = vm.mem.view(dataPtr >>> 0, dataSize >>> 0);
      if (!data) return R.InvalidMemoryAccess;
      const t = token >>> 0;
      return core.enqueue(t, data, (rootId) => core.queueReady?.(rootId, t));
    },

    proxy_set_tick_period_milliseconds(period: number): number {
      vm.tickPeriodMs = period >>> 0;
      return R.Ok;
    },

    proxy_get_current_time_nanoseconds(resultPtr: number): number {
      return vm.mem.writeU64(resultPtr >>> 0, core.opts.clock()) ? R.Ok : R.InvalidMemoryAccess;
    },

    proxy_set_effective_context(id: number): number {
      id >>>= 0;
      if (!vm.contexts.has(id)) return R.BadArgument;
      vm.effectiveId = id;
      return R.Ok;
    },

    proxy_done(): number {
      // WasmBase::done: only a root context whose proxy_on_done returned false is pending.
      return R.NotFound;
    },

    proxy_call_foreign_function(namePtr: number, nameSize: number, argPtr: number, argSize: number,
      resultPtrPtr: number, resultSizePtr: number): number {
      const mem = vm.mem;
      const name = mem.latin1(namePtr >>> 0, nameSize >>> 0);
      const arg = mem.view(argPtr >>> 0, argSize >>> 0);
      if (name === undefined || !arg) return R.InvalidMemoryAccess;
      let out: Uint8Array;
      if (name === "compress") out = deflateSync(arg);
      else if (name === "uncompress") {
        try { out = inflateSync(arg); } catch { return R.SerializationFailure; }
      } else if (name === "clear_route_cache") {
        vm.ctx().clearRouteCache();
        out = Buffer.alloc(0);
      } else if (NOT_EMULATED_FOREIGN.has(name)) {
        core.log(4, `call_foreign_function("${name}"): registered by Envoy but not emulated by this host`);
        return R.Unimplemented;
      } else return R.NotFound;
      // exports.cc: results are allocated in the guest only when the caller asked for them.
      let p = 0;
      if ((resultPtrPtr >>> 0) !== 0 && out.length > 0) {
        p = mem.alloc(out.length);
        if (p === 0) return R.InvalidMemoryAccess;
        mem.write(p, out);
      }
      if ((resultPtrPtr >>> 0) !== 0 && !mem.writeU32(resultPtrPtr >>> 0, p)) return R.InvalidMemoryAccess;
      if ((resultSizePtr >>> 0) !== 0 && !mem.writeU32(resultSizePtr >>> 0, out.length)) return R.InvalidMemoryAccess;
      return R.Ok;
    },

    proxy_http_call(uriPtr: number, uriSize: number, hdrPtr: number, hdrSize: number, bodyPtr: number, bodySize: number,
      trlPtr: number, trlSize: number, timeoutMs: number, tokenPtr: number): number {
      const mem = vm.mem;
      const ok = mem.ok(uriPtr >>> 0, uriSize >>> 0) && mem.ok(hdrPtr >>> 0, hdrSize >>> 0) &&
        mem.ok(bodyPtr >>> 0, bodySize >>> 0) && mem.ok(trlPtr >>> 0, trlSize >>> 0);
      if (!ok) return R.InvalidMemoryAccess;
      // exports.cc writes a 0 token first to check the memory before starting anything.
      if (!mem.writeU32(tokenPtr >>> 0, 0)) return R.InvalidMemoryAccess;
      if ((timeoutMs | 0) < 0) return R.BadArgument;
      // getThreadLocalCluster(cluster) == nullptr: no cluster exists in this host.
      return R.BadArgument;
    },

    proxy_grpc_call(svcPtr: number, svcSize: number, namePtr: number, nameSize: number, methPtr: number, methSize: number,
      mdPtr: number, mdSize: number, reqPtr: number, reqSize: number): number {
      const v = (p: number, n: number) => vm.mem.view(p >>> 0, n >>> 0);
      return grpcOpen(v(svcPtr, svcSize), v(namePtr, nameSize), v(methPtr, methSize), v(mdPtr, mdSize), v(reqPtr, reqSize));
    },

    proxy_grpc_stream(svcPtr: number, svcSize: number, namePtr: number, nameSize: number, methPtr: number, methSize: number,
      mdPtr: number, mdSize: number): number {
      const v = (p: number, n: number) => vm.mem.view(p >>> 0, n >>> 0);
      return grpcOpen(v(svcPtr, svcSize), v(namePtr, nameSize), v(methPtr, methSize), v(mdPtr, mdSize));
    },

    // Callout ids carry their type in the low 2 bits (wasm.h CalloutType): 1 gRPC call, 2 stream.
    proxy_grpc_close(token: number): number {
      const t = (token >>> 0) & 3;
      return t === 1 || t === 2 ? R.NotFound : R.BadArgument;
    },

    proxy_grpc_cancel(token: number): number {
      const t = (token >>> 0) & 3;
      return t === 1 || t === 2 ? R.NotFound : R.BadArgument;
    },

    proxy_grpc_send(token: number, msgPtr: number, msgSize: number): number {
      if (!vm.mem.ok(msgPtr >>> 0, msgSize >>> 0)) return R.InvalidMemoryAccess;
      return ((token >>> 0) & 3) === 2 ? R.NotFound : R.BadArgument;
    },

    envoy_resolve_dns(addrPtr: number, addrSize: number, tokenPtr: number): number {
      if (!vm.mem.ok(addrPtr >>> 0, addrSize >>> 0)) return R.InvalidMemoryAccess;
      nextDnsToken = (nextDnsToken + 1) >>> 0 || 1;
      const token = nextDnsToken;
      if (!vm.mem.writeU32(tokenPtr >>> 0, token)) return R.InvalidMemoryAccess;
      // Nothing resolves here: Envoy reports a failed resolution as 0 bytes of results.
      const root = vm.ctx().root();
      core.post(() => {
        vm.call(root, "envoy_on_resolve_dns", root.id, token, 0);
        vm.afterCall();
      });
      return R.Ok;
    },
  };
}
