// A bare proxy-wasm host for the filter's exports, for what the emulator does not model: several
// plugin roots in one VM (Envoy runs every plugin with the same vm_id and code in one VM, each
// with its own root context), and the raw bytes of log lines (the emulator keeps them as text).
import * as assert from "node:assert/strict";
import { Wasm } from "../../filter/host/wasm-api";
import { pairsBytes } from "../host/helpers";
import { wasm } from "./helpers";

const REQUEST_HEADERS = 0;
const REQUEST_BODY = 0;
const PLUGIN_CONFIGURATION = 7;

/** One VM with a root per configuration (root ids 1, 2, …): just what a POST through mcp_filter needs. */
export class BareVm {
  private readonly ex: any;
  private context = 0;
  private headers: Buffer = Buffer.alloc(0);
  private body: Buffer = Buffer.alloc(0);
  private root = 0;
  replied = false;
  readonly critical: string[] = [];
  /** Info log lines (the audit lines among them) as the raw bytes the filter wrote. */
  readonly info: Buffer[] = [];

  /** `refused`: the roots (1-based) whose configuration the filter is expected to refuse. */
  constructor(private readonly configs: string[], refused: number[] = []) {
    const view = () => new DataView(this.ex.memory.buffer);
    const text = (p: number, n: number) => Buffer.from(this.ex.memory.buffer, p, n).toString("utf8");
    const hand = (data: Buffer, ptrOut: number, sizeOut: number): number => {
      const p = this.ex.malloc(data.length);
      new Uint8Array(this.ex.memory.buffer).set(data, p);
      view().setUint32(ptrOut, p, true);
      view().setUint32(sizeOut, data.length, true);
      return 0;
    };
    let metric = 0;
    const env = {
      proxy_log: (level: number, p: number, n: number) => {
        if (level >= 5) this.critical.push(text(p, n));
        if (level === 2) this.info.push(Buffer.from(Buffer.from(this.ex.memory.buffer, p, n)));
        return 0;
      },
      proxy_define_metric: (_t: number, _p: number, _n: number, idOut: number) => { view().setUint32(idOut, ++metric, true); return 0; },
      proxy_increment_metric: () => 0,
      proxy_record_metric: () => 0,
      proxy_get_property: (p: number, n: number, ptrOut: number, sizeOut: number) =>
        text(p, n).replace(/\0/g, ".") === "plugin_root_id" ? hand(Buffer.from("mcp_filter"), ptrOut, sizeOut) : 1,
      proxy_send_local_response: () => { this.replied = true; return 0; },
      proxy_get_header_map_pairs: (type: number, ptrOut: number, sizeOut: number) =>
        hand(type === REQUEST_HEADERS ? this.headers : pairsBytes([]), ptrOut, sizeOut),
      proxy_remove_header_map_value: () => 0,
      proxy_replace_header_map_value: () => 0,
      proxy_get_buffer_bytes: (type: number, _start: number, _n: number, ptrOut: number, sizeOut: number) =>
        hand(type === PLUGIN_CONFIGURATION ? Buffer.from(this.configs[this.root - 1]) : type === REQUEST_BODY ? this.body : Buffer.alloc(0), ptrOut, sizeOut),
      proxy_set_buffer_bytes: () => 0,
      // Only rate limits use these; the configurations here have none, so a call is a failure.
      proxy_get_shared_data: () => { throw new Error("shared data read without a limit"); },
      proxy_set_shared_data: () => { throw new Error("shared data written without a limit"); },
      proxy_get_current_time_nanoseconds: () => { throw new Error("clock read without a limit"); },
    };
    const instance = new Wasm.Instance(new Wasm.Module(wasm()), {
      env,
      wasi_unstable: { proc_exit: (code: number) => { throw new Error(`the VM trapped (proc_exit ${code})`); } },
    });
    this.ex = instance.exports;
    for (let root = 1; root <= configs.length; root++) {
      this.root = root;
      this.ex.proxy_on_context_create(root, 0);
      assert.equal(this.ex.proxy_on_vm_start(root, 0), 1);
      const configured = this.ex.proxy_on_configure(root, Buffer.byteLength(configs[root - 1]));
      assert.equal(configured, refused.includes(root) ? 0 : 1, this.critical.join("\n"));
    }
    this.context = configs.length;
  }

  /** One POST on a stream of `root` (header values are Latin-1: one char per byte); true if the filter forwarded it. */
  post(root: number, headers: Array<[string, string]>, body: string | Buffer): boolean {
    const id = ++this.context;
    this.replied = false;
    this.headers = pairsBytes([[":method", "POST"], [":path", "/mcp"], ["content-type", "application/json"], ...headers]);
    this.body = typeof body === "string" ? Buffer.from(body) : body;
    this.ex.proxy_on_context_create(id, root);
    const atHeaders = this.ex.proxy_on_request_headers(id, headers.length + 3, 0);
    const atBody = this.replied ? 1 : this.ex.proxy_on_request_body(id, this.body.length, 1);
    this.ex.proxy_on_done(id);
    this.ex.proxy_on_delete(id);
    return atHeaders === 1 && atBody === 0 && !this.replied;
  }
}

