// Loading: the emulator refuses exactly what Envoy refuses, for the module's ABI.
import * as assert from "node:assert/strict";
import { ProxyWasmHost, checkModule, envoyImportTable } from "../../filter/host";
import { Abi, ProxyModule, i32 } from "./proxy-module";
import { ValType } from "./wasm-builder";

type Extra = { module: string; name: string; params: ValType[]; results: ValType[] };
const fn = (module: string, name: string, params: ValType[], results: ValType[]): Extra => ({ module, name, params, results });
const I: ValType = "i32";

function moduleWith(abi: Abi, extra: Extra[]): Uint8Array {
  return new ProxyModule([], abi, extra).build();
}

describe("host: loading a module as Envoy does", () => {
  const refused: Array<{ name: string; abi: Abi; extra: Extra[]; error: RegExp }> = [
    { name: "proxy_clear_route_cache under ABI 0.2.0", abi: "0_2_0", extra: [fn("env", "proxy_clear_route_cache", [], [I])], error: /missing import: env\.proxy_clear_route_cache .*ABI 0\.2\.0/ },
    { name: "proxy_continue_request under ABI 0.2.0", abi: "0_2_0", extra: [fn("env", "proxy_continue_request", [], [I])], error: /env\.proxy_continue_request/ },
    { name: "proxy_get_log_level under ABI 0.2.0", abi: "0_2_0", extra: [fn("env", "proxy_get_log_level", [I], [I])], error: /env\.proxy_get_log_level/ },
    { name: "proxy_continue_stream under ABI 0.1.0", abi: "0_1_0", extra: [fn("env", "proxy_continue_stream", [I], [I])], error: /env\.proxy_continue_stream/ },
    { name: "proxy_send_local_response with a different signature", abi: "0_2_0", extra: [fn("env", "proxy_send_local_response", [I, I], [I])], error: /import type mismatch: env\.proxy_send_local_response, module wants \(i32, i32\) -> \(i32\), Envoy provides \(i32, i32, i32, i32, i32, i32, i32, i32\) -> \(i32\)/ },
    { name: "proxy_increment_metric taking an i32 offset", abi: "0_2_0", extra: [fn("env", "proxy_increment_metric", [I, I], [I])], error: /import type mismatch: env\.proxy_increment_metric/ },
    { name: "an unknown env function", abi: "0_2_0", extra: [fn("env", "proxy_get_map_values", [I, I], [I])], error: /missing import: env\.proxy_get_map_values/ },
    { name: "a WASI function newer Envoy hosts add (clock_res_get)", abi: "0_2_0", extra: [fn("wasi_snapshot_preview1", "clock_res_get", [I, I], [I])], error: /wasi_snapshot_preview1\.clock_res_get/ },
    { name: "a function from an unknown module", abi: "0_2_0", extra: [fn("js", "now", [], [I])], error: /missing import: js\.now/ },
  ];
  for (const t of refused) {
    it(`refuses ${t.name}`, () => {
      assert.throws(() => ProxyWasmHost.load(moduleWith(t.abi, t.extra)), t.error);
    });
  }

  it("names every problem in one error", () => {
    const wasm = moduleWith("0_2_0", [fn("env", "proxy_clear_route_cache", [], [I]), fn("env", "proxy_done", [I], [I])]);
    assert.throws(() => ProxyWasmHost.load(wasm), (e: Error) =>
      /2 problem/.test(e.message) && /proxy_clear_route_cache/.test(e.message) && /proxy_done/.test(e.message));
  });

  const accepted: Array<{ name: string; abi: Abi; extra: Extra[] }> = [
    { name: "proxy_clear_route_cache under ABI 0.1.0", abi: "0_1_0", extra: [fn("env", "proxy_clear_route_cache", [], [I])] },
    { name: "proxy_get_log_level under ABI 0.2.1", abi: "0_2_1", extra: [fn("env", "proxy_get_log_level", [I], [I])] },
    { name: "proxy_continue_stream under ABI 0.2.0", abi: "0_2_0", extra: [fn("env", "proxy_continue_stream", [I], [I])] },
    { name: "WASI fd_write under wasi_snapshot_preview1", abi: "0_2_0", extra: [fn("wasi_snapshot_preview1", "fd_write", [I, I, I, I], [I])] },
    { name: "WASI proc_exit under wasi_unstable", abi: "0_2_0", extra: [fn("wasi_unstable", "proc_exit", [I], [])] },
    { name: "env.envoy_resolve_dns", abi: "0_2_0", extra: [fn("env", "envoy_resolve_dns", [I, I, I], [I])] },
  ];
  for (const t of accepted) {
    it(`accepts and links ${t.name}`, () => {
      const host = ProxyWasmHost.load(moduleWith(t.abi, t.extra));
      assert.equal(host.abi, t.abi);
      assert.equal(host.start(), true);
    });
  }

  it("refuses a module that exports no proxy_abi_version_*", () => {
    // Rename the ABI export so the module has none.
    const patched = Buffer.from(new ProxyModule([]).build());
    const at = patched.indexOf("proxy_abi_version_0_2_0");
    patched.write("proxy_abi_version_9_9_9", at);
    assert.throws(() => ProxyWasmHost.load(patched), /unknown Proxy-Wasm ABI version/);
  });

  it("refuses a module without malloc", () => {
    assert.throws(() => ProxyWasmHost.load(new ProxyModule([]).build({ malloc: false })), /missing malloc/);
  });

  it("refuses an imported global", () => {
    const m = new ProxyModule([]);
    m.b.importGlobal("env", "__stack_pointer");
    assert.throws(() => ProxyWasmHost.load(m.build()), /missing import: env\.__stack_pointer/);
  });

  it("refuses a callback export with the wrong signature", () => {
    const m = new ProxyModule([]).on("proxy_on_request_headers", 2, i32(0));
    assert.throws(() => ProxyWasmHost.load(m.build()), /bad function signature for export proxy_on_request_headers/);
  });

  it("reports the ABI from the first proxy_abi_version_* export", () => {
    const m = new ProxyModule([], "0_2_1");
    assert.equal(checkModule(m.build()).abi, "0_2_1");
  });

  for (const abi of ["0_1_0", "0_2_0", "0_2_1"] as const) {
    it(`links a module importing every function Envoy registers for ABI ${abi.replace(/_/g, ".")}`, () => {
      const extra = [...envoyImportTable(abi)].map(([key, sig]) => {
        const dot = key.indexOf(".");
        return fn(key.slice(0, dot), key.slice(dot + 1), sig.params as ValType[], sig.results as ValType[]);
      }).filter((e) => e.name !== "proxy_log");
      const host = ProxyWasmHost.load(moduleWith(abi, extra));
      assert.equal(host.start(), true);
    });
  }

  it("refuses bytes that are not wasm", () => {
    assert.throws(() => ProxyWasmHost.load(Buffer.from("not wasm at all")), /Envoy cannot load .*magic/);
  });
});
