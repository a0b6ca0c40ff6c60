// WASI preview1 functions and the two extra env.* functions, as proxy-wasm-cpp-host
// implements them (src/exports.cc at beb8a4e): stdout/stderr go to the log at info/error,
// there is no filesystem, environment comes from vm_config, args are empty, and
// proc_exit only logs (Envoy's Context::error logs at trace) - the module's next
// instruction (AssemblyScript emits `unreachable` after abort) is what traps the VM.

import { randomFillSync } from "node:crypto";
import type { HostFunctions } from "./imports";
import type { WasmVm } from "./vm";

// __wasi_errno_t values used by the host.
const OK = 0, BADF = 8, FAULT = 21, INVAL = 28, NOENT = 44, NOSYS = 52, NOTSUP = 58;
const RANDOM_GET_MAX = 64 * 1024; // PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES
const TRACE = 0, INFO = 2, ERROR = 4;

export function wasiFunctions(vm: WasmVm): { wasi: HostFunctions; env: HostFunctions } {
  const core = vm.core;
  const env = core.opts.env;

  const wasi: HostFunctions = {
    fd_write(fd: number, iovs: number, iovsLen: number, nwrittenPtr: number): number {
      let level: number;
      if (fd === 1) level = INFO;
      else if (fd === 2) level = ERROR;
      else return BADF;
      const mem = vm.mem;
      iovs >>>= 0;
      const parts: Buffer[] = [];
      let written = 0;
      for (let i = 0; i < iovsLen >>> 0; i++) {
        const buf = mem.readU32(iovs + i * 8);
        const len = mem.readU32(iovs + i * 8 + 4);
        if (buf === undefined || len === undefined) return FAULT;
        if (len === 0) continue;
        const v = mem.view(buf, len);
        if (!v) return FAULT;
        parts.push(v);
        written += len;
      }
      if (written > 0) {
        let s = Buffer.concat(parts).toString("utf8");
        if (s.endsWith("\n")) s = s.slice(0, -1);
        core.log(level, s);
      }
      return mem.writeU32(nwrittenPtr >>> 0, written) ? OK : FAULT;
    },
    fd_read: () => NOSYS,
    fd_seek(): number {
      core.log(TRACE, "wasi_unstable fd_seek");
      return OK;
    },
    fd_close(): number {
      core.log(TRACE, "wasi_unstable fd_close");
      return OK;
    },
    fd_fdstat_get(fd: number, statPtr: number): number {
      if (fd !== 1 && fd !== 2) return BADF;
      // Three u64: 0, rights_base = FD_WRITE (64), 0. A bad pointer is ignored, as in Envoy.
      const v = vm.mem.view(statPtr >>> 0, 24);
      if (v) {
        v.fill(0);
        v.writeBigUInt64LE(64n, 8);
      }
      return OK;
    },
    fd_fdstat_set_flags: () => NOSYS,
    environ_get(arrayPtr: number, bufPtr: number): number {
      const mem = vm.mem;
      let a = arrayPtr >>> 0;
      let b = bufPtr >>> 0;
      for (const [k, v] of env) {
        if (!mem.writeU32(a, b)) return FAULT;
        const data = Buffer.from(`${k}=${v}\0`, "utf8");
        if (!mem.write(b, data)) return FAULT;
        b += data.length;
        a += 4;
      }
      return OK;
    },
    environ_sizes_get(countPtr: number, sizePtr: number): number {
      if (!vm.mem.writeU32(countPtr >>> 0, env.length)) return FAULT;
      const size = env.reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v) + 2, 0);
      return vm.mem.writeU32(sizePtr >>> 0, size) ? OK : FAULT;
    },
    args_get: () => OK,
    args_sizes_get(argcPtr: number, bufSizePtr: number): number {
      return vm.mem.writeU32(argcPtr >>> 0, 0) && vm.mem.writeU32(bufSizePtr >>> 0, 0) ? OK : FAULT;
    },
    clock_time_get(id: number, _precision: bigint, resultPtr: number): number {
      let t: bigint;
      if (id === 0) t = core.opts.clock();
      else if (id === 1) t = process.hrtime.bigint();
      else return NOTSUP;
      return vm.mem.writeU64(resultPtr >>> 0, t) ? OK : FAULT;
    },
    random_get(ptr: number, len: number): number {
      len >>>= 0;
      if (len > RANDOM_GET_MAX) return INVAL;
      if (len === 0) return OK;
      const v = vm.mem.view(ptr >>> 0, len);
      if (!v) return FAULT;
      randomFillSync(v);
      return OK;
    },
    sched_yield: () => OK,
    poll_oneoff: () => NOSYS,
    proc_exit(): void {
      core.log(TRACE, "wasi_unstable proc_exit");
    },
    path_open: () => NOENT,
    fd_prestat_get: () => BADF,
    fd_prestat_dir_name: () => NOSYS,
  };

  const others: HostFunctions = {
    pthread_equal: (a: number, b: number) => (a === b ? 1 : 0),
    emscripten_notify_memory_growth: () => undefined,
  };
  return { wasi, env: others };
}
