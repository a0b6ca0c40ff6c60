// env.proxy_* host functions for logging, properties, header maps, buffers and stream
// control. Argument checks and result codes follow proxy-wasm-cpp-host src/exports.cc;
// what a context answers follows Envoy source/extensions/common/wasm/context.cc.
// i32 arguments arrive signed from JS, so pointers, sizes and enums go through `>>> 0`.

import { BufferType, HeaderMapType, StreamType, WasmResult } from "./constants";
import type { BufferRef } from "./context";
import { parsePairs } from "./headers";
import type { HostFunctions } from "./imports";
import type { WasmVm } from "./vm";

const R = WasmResult;

/** Context::getProperty splits the path on NUL bytes; a trailing NUL adds no empty part. */
export function splitPath(path: string): string[] {
  const parts: string[] = [];
  let start = 0;
  while (start < path.length) {
    let end = path.indexOf("\0", start);
    if (end < 0) end = path.length;
    parts.push(path.slice(start, end));
    start = end + 1;
  }
  return parts;
}

/** The buffer a buffer call names: BadArgument past the enum, NotFound when the context has none. */
function bufferFor(vm: WasmVm, type: number): BufferRef | number {
  type >>>= 0;
  if (type > BufferType.Max) return R.BadArgument;
  return vm.ctx().buffer(type) ?? R.NotFound;
}

export function proxyFunctions(vm: WasmVm): HostFunctions {
  const core = vm.core;
  const abi010 = vm.abi === "0_1_0";

  return {
    proxy_log(level: number, ptr: number, size: number): number {
      level >>>= 0; ptr >>>= 0; size >>>= 0;
      if (level > 5) return R.BadArgument;
      const message = vm.mem.utf8(ptr, size);
      if (message === undefined) return R.InvalidMemoryAccess;
      core.log(level, message);
      return R.Ok;
    },

    proxy_get_log_level(ptr: number): number {
      return vm.mem.writeU32(ptr >>> 0, core.opts.logLevel) ? R.Ok : R.InvalidMemoryAccess;
    },

    proxy_get_status(codePtr: number, msgPtrPtr: number, msgSizePtr: number): number {
      // Root context status: 0 and "" unless an http/grpc callback is running.
      const mem = vm.mem;
      if (!mem.writeU32(codePtr >>> 0, 0)) return R.InvalidMemoryAccess;
      return mem.copyLatin1Out("", msgPtrPtr >>> 0, msgSizePtr >>> 0) ? R.Ok : R.InvalidMemoryAccess;
    },

    proxy_get_property(pathPtr: number, pathSize: number, valuePtrPtr: number, valueSizePtr: number): number {
      const mem = vm.mem;
      const path = mem.latin1(pathPtr >>> 0, pathSize >>> 0);
      if (path === undefined) return R.InvalidMemoryAccess;
      const r = vm.ctx().property(splitPath(path));
      if (r.result !== R.Ok) return r.result;
      return mem.copyBytesOut(r.value as Uint8Array, valuePtrPtr >>> 0, valueSizePtr >>> 0) ? R.Ok : R.InvalidMemoryAccess;
    },

    proxy_set_property(keyPtr: number, keySize: number, valuePtr: number, valueSize: number): number {
      const mem = vm.mem;
      const key = mem.latin1(keyPtr >>> 0, keySize >>> 0);
      const value = mem.view(valuePtr >>> 0, valueSize >>> 0);
      if (key === undefined || value === undefined) return R.InvalidMemoryAccess;
      return vm.ctx().setProperty(key, Buffer.from(value));
    },

    proxy_get_header_map_value(type: number, keyPtr: number, keySize: number, valuePtrPtr: number, valueSizePtr: number): number {
      type >>>= 0;
      if (type > HeaderMapType.Max) return R.BadArgument;
      const mem = vm.mem;
      const key = mem.latin1(keyPtr >>> 0, keySize >>> 0);
      if (key === undefined) return R.InvalidMemoryAccess;
      const ctx = vm.ctx();
      const map = ctx.headerMap(type, false);
      let value: string | undefined;
      if (map) value = map.get(key);
      else if (!ctx.accessLogPhase) return R.BadArgument;
      if (value === undefined) {
        if (!abi010) return R.NotFound;
        value = "";
      }
      return mem.copyLatin1Out(value, valuePtrPtr >>> 0, valueSizePtr >>> 0) ? R.Ok : R.InvalidMemoryAccess;
    },

    proxy_add_header_map_value(type: number, keyPtr: number, keySize: number, valuePtr: number, valueSize: number): number {
      return mutateHeader(vm, type, keyPtr, keySize, valuePtr, valueSize, "add");
    },

    proxy_replace_header_map_value(type: number, keyPtr: number, keySize: number, valuePtr: number, valueSize: number): number {
      return mutateHeader(vm, type, keyPtr, keySize, valuePtr, valueSize, "replace");
    },

    proxy_remove_header_map_value(type: number, keyPtr: number, keySize: number): number {
      return mutateHeader(vm, type, keyPtr, keySize, 0, 0, "remove");
    },

    proxy_get_header_map_pairs(type: number, ptrPtr: number, sizePtr: number): number {
      type >>>= 0;
      if (type > HeaderMapType.Max) return R.BadArgument;
      const map = vm.ctx().headerMap(type, false);
      const mem = vm.mem;
      if (!map || map.size === 0) return mem.copyLatin1Out("", ptrPtr >>> 0, sizePtr >>> 0) ? R.Ok : R.InvalidMemoryAccess;
      return mem.copyBytesOut(map.pairs(), ptrPtr >>> 0, sizePtr >>> 0) ? R.Ok : R.InvalidMemoryAccess;
    },

    proxy_set_header_map_pairs(type: number, ptr: number, size: number): number {
      type >>>= 0; ptr >>>= 0; size >>>= 0;
      if (type > HeaderMapType.Max) return R.BadArgument;
      const mem = vm.mem;
      if (!mem.ok(ptr, size)) return R.InvalidMemoryAccess;
      const ctx = vm.ctx();
      const map = ctx.headerMap(type, true);
      if (!map) return R.BadArgument;
      const pairs = parsePairs(mem.buf, ptr, size);
      map.clear();
      for (const [k, v] of pairs) map.add(k, v);
      ctx.onHeadersModified(type);
      return R.Ok;
    },

    proxy_get_header_map_size(type: number, resultPtr: number): number {
      type >>>= 0;
      if (type > HeaderMapType.Max) return R.BadArgument;
      const map = vm.ctx().headerMap(type, true);
      if (!map) return R.BadArgument;
      return vm.mem.writeU32(resultPtr >>> 0, map.byteSize()) ? R.Ok : R.InvalidMemoryAccess;
    },

    proxy_get_buffer_status(type: number, lengthPtr: number, flagsPtr: number): number {
      const b = bufferFor(vm, type);
      if (typeof b === "number") return b;
      const mem = vm.mem;
      return mem.writeU32(lengthPtr >>> 0, b.size()) && mem.writeU32(flagsPtr >>> 0, 0) ? R.Ok : R.InvalidMemoryAccess;
    },

    proxy_get_buffer_bytes(type: number, start: number, length: number, ptrPtr: number, sizePtr: number): number {
      start >>>= 0; length >>>= 0;
      const b = bufferFor(vm, type);
      if (typeof b === "number") return b;
      const total = b.size();
      // exports.cc get_buffer_bytes: never read past the end.
      if (start > total) length = 0;
      else if (start + length > total) length = total - start;
      const mem = vm.mem;
      return mem.copyBytesOut(b.bytes(start, length), ptrPtr >>> 0, sizePtr >>> 0) ? R.Ok : R.InvalidMemoryAccess;
    },

    proxy_set_buffer_bytes(type: number, start: number, length: number, dataPtr: number, dataSize: number): number {
      const b = bufferFor(vm, type);
      if (typeof b === "number") return b;
      const mem = vm.mem;
      const data = mem.view(dataPtr >>> 0, dataSize >>> 0);
      if (!data) return R.InvalidMemoryAccess;
      return b.copyFrom(start >>> 0, length >>> 0, data);
    },

    proxy_send_local_response(status: number, detailsPtr: number, detailsSize: number, bodyPtr: number, bodySize: number,
      pairsPtr: number, pairsSizeArg: number, grpcStatus: number): number {
      const mem = vm.mem;
      const details = mem.utf8(detailsPtr >>> 0, detailsSize >>> 0);
      const body = mem.view(bodyPtr >>> 0, bodySize >>> 0);
      const pairs = mem.ok(pairsPtr >>> 0, pairsSizeArg >>> 0) ? parsePairs(mem.buf, pairsPtr >>> 0, pairsSizeArg >>> 0) : undefined;
      if (details === undefined || !body || !pairs) return R.InvalidMemoryAccess;
      vm.ctx().sendLocalResponse(status >>> 0, Buffer.from(body), pairs, grpcStatus | 0, details);
      vm.stopIteration = true;
      return R.Ok;
    },

    proxy_continue_stream(type: number): number {
      type >>>= 0;
      if (type > StreamType.Max) return R.BadArgument;
      if (type === StreamType.Upstream) return R.Unimplemented;
      if (type !== StreamType.Downstream) vm.ctx().continueStream(type);
      return R.Ok;
    },

    proxy_close_stream(type: number): number {
      type >>>= 0;
      if (type > StreamType.Max) return R.BadArgument;
      vm.ctx().closeStream(type);
      return R.Ok;
    },

    proxy_continue_request(): number {
      vm.ctx().continueStream(StreamType.Request);
      return R.Ok;
    },

    proxy_continue_response(): number {
      vm.ctx().continueStream(StreamType.Response);
      return R.Ok;
    },

    proxy_clear_route_cache(): number {
      vm.ctx().clearRouteCache();
      return R.Ok;
    },

    proxy_get_configuration(ptrPtr: number, sizePtr: number): number {
      // Context::getConfiguration: the plugin configuration while configuring, else the VM's.
      const ctx = vm.ctx();
      const value = ctx.pluginConfigVisible ? core.opts.pluginConfig : core.opts.vmConfig;
      return vm.mem.copyBytesOut(value, ptrPtr >>> 0, sizePtr >>> 0) ? R.Ok : R.InvalidMemoryAccess;
    },
  };
}

function mutateHeader(vm: WasmVm, type: number, keyPtr: number, keySize: number, valuePtr: number, valueSize: number,
  op: "add" | "replace" | "remove"): number {
  type >>>= 0;
  if (type > HeaderMapType.Max) return R.BadArgument;
  const mem = vm.mem;
  const key = mem.latin1(keyPtr >>> 0, keySize >>> 0);
  const value = op === "remove" ? "" : mem.latin1(valuePtr >>> 0, valueSize >>> 0);
  if (key === undefined || value === undefined) return R.InvalidMemoryAccess;
  const ctx = vm.ctx();
  const map = ctx.headerMap(type, true);
  if (!map) return R.BadArgument;
  if (op === "add") map.add(key, value);
  else if (op === "replace") map.replace(key, value);
  else map.remove(key);
  ctx.onHeadersModified(type);
  return R.Ok;
}
