// The one place for Envoy's import table: which host functions Envoy registers for
// each proxy-wasm ABI, with their wasm signatures, and which exports it looks up.
// Both the import object (imports.ts) and the load-time refusal (checkModule) use it.
//
// Sources, proxy-wasm-cpp-host at beb8a4e (Jan 2026; the host Envoy 1.35-1.37 ship):
// - include/proxy-wasm/exports.h: prototypes (Word = i32 on wasm32, uint64_t/int64_t = i64),
//   FOR_ALL_HOST_FUNCTIONS, FOR_ALL_HOST_FUNCTIONS_ABI_SPECIFIC, FOR_ALL_WASI_FUNCTIONS;
// - src/wasm.cc registerCallbacks(): env.pthread_equal, env.emscripten_notify_memory_growth,
//   WASI under both wasi_unstable and wasi_snapshot_preview1, the ABI-specific set;
// - src/v8/v8.cc link(): a missing import or a different signature fails the load;
//   imported globals are refused, imported memories and tables are created.
// Envoy adds env.envoy_resolve_dns and looks up envoy_on_resolve_dns / envoy_on_stats_update
// (source/extensions/common/wasm/wasm.cc registerCallbacks()/getFunctions()).
// cpp-host 94091cd (Apr 2026) added ~25 more WASI stubs (clock_res_get, fd_pread, sock_*...);
// they are left out on purpose: a module importing them does not load in Envoy 1.35-1.37.

import { FuncSig, ModuleInfo, ValType, formatSig, parseModule, sameSig } from "./wasm-binary";

export type AbiVersion = "0_1_0" | "0_2_0" | "0_2_1";
export const ABI_EXPORTS: Record<string, AbiVersion> = {
  proxy_abi_version_0_1_0: "0_1_0",
  proxy_abi_version_0_2_0: "0_2_0",
  proxy_abi_version_0_2_1: "0_2_1",
};

const I: ValType = "i32";
const L: ValType = "i64";
const sig = (params: ValType[], results: ValType[] = [I]): FuncSig => ({ params, results });
const w = (n: number): ValType[] => new Array<ValType>(n).fill(I);

/** env.proxy_* for every ABI (FOR_ALL_HOST_FUNCTIONS). */
const PROXY_COMMON: Record<string, FuncSig> = {
  log: sig(w(3)), get_status: sig(w(3)), set_property: sig(w(4)), get_property: sig(w(4)),
  send_local_response: sig(w(8)), get_shared_data: sig(w(5)), set_shared_data: sig(w(5)),
  register_shared_queue: sig(w(3)), resolve_shared_queue: sig(w(5)), dequeue_shared_queue: sig(w(3)),
  enqueue_shared_queue: sig(w(3)), get_header_map_value: sig(w(5)), add_header_map_value: sig(w(5)),
  replace_header_map_value: sig(w(5)), remove_header_map_value: sig(w(3)),
  get_header_map_pairs: sig(w(3)), set_header_map_pairs: sig(w(3)), get_header_map_size: sig(w(2)),
  get_buffer_status: sig(w(3)), get_buffer_bytes: sig(w(5)), set_buffer_bytes: sig(w(5)),
  http_call: sig(w(10)), grpc_call: sig(w(12)), grpc_stream: sig(w(9)), grpc_close: sig(w(1)),
  grpc_cancel: sig(w(1)), grpc_send: sig(w(4)), set_tick_period_milliseconds: sig(w(1)),
  get_current_time_nanoseconds: sig(w(1)), define_metric: sig(w(4)), increment_metric: sig([I, L]),
  record_metric: sig([I, L]), get_metric: sig(w(2)), set_effective_context: sig(w(1)), done: sig([]),
  call_foreign_function: sig(w(6)),
};

/** env.proxy_* registered only for one ABI (src/wasm.cc registerCallbacks). */
const PROXY_BY_ABI: Record<AbiVersion, Record<string, FuncSig>> = {
  "0_1_0": {
    get_configuration: sig(w(2)), continue_request: sig([]), continue_response: sig([]), clear_route_cache: sig([]),
  },
  "0_2_0": { continue_stream: sig(w(1)), close_stream: sig(w(1)) },
  "0_2_1": { continue_stream: sig(w(1)), close_stream: sig(w(1)), get_log_level: sig(w(1)) },
};

/** Other env.* functions registered for every ABI. */
const ENV_OTHER: Record<string, FuncSig> = {
  pthread_equal: sig(w(2)),
  emscripten_notify_memory_growth: sig(w(1), []),
  envoy_resolve_dns: sig(w(3)),
};

/** FOR_ALL_WASI_FUNCTIONS, under wasi_unstable and wasi_snapshot_preview1. */
export const WASI: Record<string, FuncSig> = {
  fd_write: sig(w(4)), fd_read: sig(w(4)), fd_seek: sig([I, L, I, I]), fd_close: sig(w(1)),
  fd_fdstat_get: sig(w(2)), fd_fdstat_set_flags: sig(w(2)), environ_get: sig(w(2)),
  environ_sizes_get: sig(w(2)), args_get: sig(w(2)), args_sizes_get: sig(w(2)),
  clock_time_get: sig([I, L, I]), random_get: sig(w(2)), sched_yield: sig([]), poll_oneoff: sig(w(4)),
  proc_exit: sig(w(1), []), path_open: sig([I, I, I, I, I, L, L, I, I]), fd_prestat_get: sig(w(2)),
  fd_prestat_dir_name: sig(w(3)),
};
export const WASI_MODULES = ["wasi_unstable", "wasi_snapshot_preview1"] as const;

/** Every import Envoy provides to a module of this ABI, keyed "module.name". */
export function envoyImportTable(abi: AbiVersion): Map<string, FuncSig> {
  const table = new Map<string, FuncSig>();
  for (const [n, s] of Object.entries({ ...PROXY_COMMON, ...PROXY_BY_ABI[abi] })) table.set(`env.proxy_${n}`, s);
  for (const [n, s] of Object.entries(ENV_OTHER)) table.set(`env.${n}`, s);
  for (const m of WASI_MODULES) for (const [n, s] of Object.entries(WASI)) table.set(`${m}.${n}`, s);
  return table;
}

/**
 * Exports Envoy looks up, with the signature it requires (WasmCallWord<N> = N i32 params
 * returning i32, WasmCallVoid<N> = no result); a different signature fails the load
 * (v8.cc getModuleFunctionImpl "Bad function signature").
 */
export function envoyExportTable(abi: AbiVersion): Map<string, FuncSig> {
  const word = (n: number) => sig(w(n));
  const none = (n: number) => sig(w(n), []);
  const t: Record<string, FuncSig> = {
    _initialize: none(0), _start: none(0), main: word(2), malloc: word(1), proxy_on_memory_allocate: word(1),
    proxy_validate_configuration: word(2), proxy_on_vm_start: word(2), proxy_on_configure: word(2),
    proxy_on_tick: none(1), proxy_on_context_create: none(2), proxy_on_new_connection: word(1),
    proxy_on_downstream_data: word(3), proxy_on_upstream_data: word(3),
    proxy_on_downstream_connection_close: none(2), proxy_on_upstream_connection_close: none(2),
    proxy_on_request_headers: word(abi === "0_1_0" ? 2 : 3), proxy_on_request_body: word(3),
    proxy_on_request_trailers: word(2), proxy_on_request_metadata: word(2),
    proxy_on_response_headers: word(abi === "0_1_0" ? 2 : 3), proxy_on_response_body: word(3),
    proxy_on_response_trailers: word(2), proxy_on_response_metadata: word(2),
    proxy_on_http_call_response: none(5), proxy_on_grpc_receive: none(3), proxy_on_grpc_close: none(3),
    proxy_on_grpc_receive_initial_metadata: none(3), proxy_on_grpc_receive_trailing_metadata: none(3),
    proxy_on_queue_ready: none(2), proxy_on_done: word(1), proxy_on_log: none(1), proxy_on_delete: none(1),
    envoy_on_resolve_dns: none(3), envoy_on_stats_update: none(2),
  };
  if (abi !== "0_1_0") t.proxy_on_foreign_function = none(3);
  return new Map(Object.entries(t));
}

/** V8 in proxy-wasm-cpp-host caps wasm memory at 1 GiB (--wasm_max_mem_pages, limits.h). */
export const MAX_MEMORY_PAGES = (1024 * 1024 * 1024) / 65536;

export interface ModuleCheck { info: ModuleInfo; abi?: AbiVersion; problems: string[] }

/** Everything Envoy would refuse about this module; an empty problems list means it loads. */
export function checkModule(bytes: Uint8Array): ModuleCheck {
  const info = parseModule(bytes);
  const problems: string[] = [];
  // V8::getAbiVersion: the first proxy_abi_version_* export in export order wins.
  const abiExport = info.exports.find((e) => e.kind === "function" && ABI_EXPORTS[e.name] !== undefined);
  const abi = abiExport ? ABI_EXPORTS[abiExport.name] : undefined;
  if (!abi) {
    problems.push("missing or unknown Proxy-Wasm ABI version: export one of " + Object.keys(ABI_EXPORTS).join(", "));
    return { info, problems };
  }
  const table = envoyImportTable(abi);
  for (const im of info.imports) {
    const key = `${im.module}.${im.name}`;
    if (im.kind === "memory") {
      if (im.limits.min > MAX_MEMORY_PAGES) problems.push(`imported memory ${key} needs ${im.limits.min} pages; V8 in Envoy allows ${MAX_MEMORY_PAGES}`);
      continue;
    }
    if (im.kind === "table") continue;
    if (im.kind === "global") {
      problems.push(`missing import: ${key} (Envoy provides no imported globals)`);
      continue;
    }
    const want = table.get(key);
    if (!want) problems.push(`missing import: ${key} is not provided by Envoy for ABI ${abi.replace(/_/g, ".")}`);
    else if (!sameSig(want, im.sig)) problems.push(`import type mismatch: ${key}, module wants ${formatSig(im.sig)}, Envoy provides ${formatSig(want)}`);
  }
  const exportSigs = envoyExportTable(abi);
  for (const ex of info.exports) {
    const want = exportSigs.get(ex.name);
    if (want && ex.kind === "function" && ex.sig && !sameSig(want, ex.sig)) {
      problems.push(`bad function signature for export ${ex.name}: module has ${formatSig(ex.sig)}, Envoy calls ${formatSig(want)}`);
    }
  }
  const names = new Set(info.exports.filter((e) => e.kind === "function").map((e) => e.name));
  if (!names.has("malloc") && !names.has("proxy_on_memory_allocate")) problems.push("module is missing malloc function (export malloc or proxy_on_memory_allocate)");
  const hasMemory = info.exports.some((e) => e.kind === "memory") || info.imports.some((i) => i.kind === "memory");
  if (!hasMemory) problems.push("module has no memory for the host to read and write");
  for (const m of info.memories) {
    if (m.min > MAX_MEMORY_PAGES) problems.push(`memory needs ${m.min} pages; V8 in Envoy allows ${MAX_MEMORY_PAGES}`);
  }
  return { info, abi, problems };
}
