// Builds small proxy-wasm modules for the emulator's tests. Signatures here are written out
// independently of filter/host/abi.ts so that the tests check the emulator's table.

import { ModuleBuilder, ValType, mallocBody, op } from "./wasm-builder";

const I: ValType = "i32";
const L: ValType = "i64";
const w = (n: number): ValType[] => new Array<ValType>(n).fill(I);

export const SIGS: Record<string, [ValType[], ValType[]]> = {
  proxy_log: [w(3), [I]], proxy_get_log_level: [w(1), [I]], proxy_get_property: [w(4), [I]],
  proxy_set_property: [w(4), [I]], proxy_send_local_response: [w(8), [I]],
  proxy_get_header_map_value: [w(5), [I]], proxy_add_header_map_value: [w(5), [I]],
  proxy_replace_header_map_value: [w(5), [I]], proxy_remove_header_map_value: [w(3), [I]],
  proxy_get_header_map_pairs: [w(3), [I]], proxy_set_header_map_pairs: [w(3), [I]],
  proxy_get_header_map_size: [w(2), [I]], proxy_get_buffer_status: [w(3), [I]],
  proxy_get_buffer_bytes: [w(5), [I]], proxy_set_buffer_bytes: [w(5), [I]],
  proxy_continue_stream: [w(1), [I]], proxy_close_stream: [w(1), [I]], proxy_clear_route_cache: [[], [I]],
  proxy_define_metric: [w(4), [I]], proxy_increment_metric: [[I, L], [I]], proxy_record_metric: [[I, L], [I]],
  proxy_get_metric: [w(2), [I]], proxy_get_current_time_nanoseconds: [w(1), [I]],
  proxy_set_tick_period_milliseconds: [w(1), [I]], proxy_set_effective_context: [w(1), [I]],
  proxy_call_foreign_function: [w(6), [I]], proxy_http_call: [w(10), [I]], proxy_grpc_call: [w(12), [I]],
  proxy_get_shared_data: [w(5), [I]], proxy_set_shared_data: [w(5), [I]], proxy_register_shared_queue: [w(3), [I]],
  proxy_enqueue_shared_queue: [w(3), [I]], proxy_dequeue_shared_queue: [w(3), [I]], proxy_done: [[], [I]],
  proxy_get_status: [w(3), [I]],
};

export type Abi = "0_1_0" | "0_2_0" | "0_2_1";
type Arg = number | number[];

/** Fixed addresses the test code uses: two out-params and a scratch byte. */
export const OUT_PTR = 16;
export const OUT_SIZE = 20;
export const OUT_U64 = 24;
const SCRATCH = 40;

export class ProxyModule {
  readonly b = new ModuleBuilder();
  private readonly idx = new Map<string, number>();
  private readonly exported = new Set<string>();

  /** `imports` are env.* names from SIGS; `extra` adds other (module, name, signature) imports. */
  constructor(imports: string[], private readonly abi: Abi = "0_2_0",
    extra: Array<{ module: string; name: string; params: ValType[]; results: ValType[] }> = []) {
    for (const name of new Set(["proxy_log", ...imports])) {
      const sig = SIGS[name];
      if (!sig) throw new Error(`no test signature for ${name}`);
      this.idx.set(name, this.b.importFunc("env", name, sig[0], sig[1]));
    }
    for (const e of extra) this.idx.set(`${e.module}.${e.name}`, this.b.importFunc(e.module, e.name, e.params, e.results));
  }

  str(s: string | Buffer): { ptr: number; len: number } {
    return this.b.bytes(s);
  }

  /** Instructions calling an import; numbers become i32 constants. Leaves the result on the stack. */
  call(name: string, ...args: Arg[]): number[] {
    const f = this.idx.get(name);
    if (f === undefined) throw new Error(`${name} was not imported`);
    return [...args.flatMap((a) => (typeof a === "number" ? op.i32(a) : a)), ...op.call(f)];
  }

  /** Logs one letter for the i32 `code` computes: "A" + code (A = Ok, B = NotFound, C = BadArgument...). */
  logCode(code: number[], level = 2): number[] {
    return [...op.i32(SCRATCH), ...code, ...op.i32(65), ...op.add, ...op.store8(),
      ...this.call("proxy_log", level, SCRATCH, 1), ...op.drop];
  }

  /** Logs the bytes the host returned through OUT_PTR/OUT_SIZE. */
  logOut(level = 2): number[] {
    return this.call("proxy_log", level, [...op.i32(OUT_PTR), ...op.load()], [...op.i32(OUT_SIZE), ...op.load()]).concat(op.drop);
  }

  log(text: string, level = 2): number[] {
    const s = this.str(text);
    return [...this.call("proxy_log", level, s.ptr, s.len), ...op.drop];
  }

  /** Exports a callback; `body` leaves the result (if any) on the stack. */
  on(name: string, params: number, body: number[], returns = true, locals: ValType[] = []): this {
    this.b.func(w(params), returns ? [I] : [], body, name, locals);
    this.exported.add(name);
    return this;
  }

  build(opts: { malloc?: boolean } = {}): Uint8Array {
    const hs = this.abi === "0_1_0" ? 2 : 3;
    const defaults: Array<[string, number, number[], boolean]> = [
      [`proxy_abi_version_${this.abi}`, 0, [], false],
      ["proxy_on_context_create", 2, [], false],
      ["proxy_on_vm_start", 2, op.i32(1), true],
      ["proxy_on_configure", 2, op.i32(1), true],
      ["proxy_on_request_headers", hs, op.i32(0), true],
      ["proxy_on_done", 1, op.i32(1), true],
    ];
    for (const [name, params, body, returns] of defaults) if (!this.exported.has(name)) this.on(name, params, body, returns);
    if (opts.malloc !== false) this.b.func([I], [I], mallocBody(), "malloc", [I]);
    return this.b.build();
  }
}

export const drop = op.drop;
export const i32 = op.i32;
export const i64 = op.i64;
export const local = op.get;
export { op };
