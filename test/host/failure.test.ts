// VM failure and the failure policy: what later streams get after a trap.
import * as assert from "node:assert/strict";
import { FailurePolicy, HostOptions, MetricType, ProxyWasmHost } from "../../filter/host";
import { REQUEST, lines, startHost } from "./helpers";
import { ProxyModule, drop, i32, i64, op } from "./proxy-module";

/** Logs "vm start" and "headers"; counts requests in "reqs"; any request body traps. */
function trapModule(): Uint8Array {
  const m = new ProxyModule(["proxy_define_metric", "proxy_increment_metric"]);
  const name = m.str("reqs");
  m.on("proxy_on_vm_start", 2, [...m.log("vm start"), ...m.call("proxy_define_metric", MetricType.Counter, name.ptr, name.len, 128), ...drop, ...i32(1)]);
  m.on("proxy_on_request_headers", 3, [...m.log("headers"),
    ...m.call("proxy_increment_metric", [...i32(128), ...op.load()], i64(1n)), ...drop, ...i32(0)]);
  m.on("proxy_on_request_body", 3, op.unreachable);
  return m.build();
}

function trapOnce(policy: FailurePolicy, options: HostOptions = {}) {
  const host = startHost(trapModule(), { failurePolicy: policy, ...options });
  const trapping = host.newHttpContext();
  trapping.requestHeaders(REQUEST, false);
  trapping.requestBody(Buffer.from("{}"), true);
  host.clearLogs();
  return { host, trapping };
}

function get(host: ProxyWasmHost) {
  const ctx = host.newHttpContext();
  ctx.requestHeaders(REQUEST, true);
  return ctx;
}

describe("host: VM failure", () => {
  it("a trap fails the VM and is counted", () => {
    const host = startHost(trapModule());
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("{}"), true);
    assert.equal(host.traps, 1);
    assert.equal(host.vmFailed, true);
    assert.equal(host.lastTrap?.name, "RuntimeError");
    // Envoy writes the runtime's message as it is (source/extensions/common/wasm/wasm_vm.cc
    // EnvoyWasmVmIntegration::error, called by proxy-wasm-cpp-host WasmVm::fail), without the
    // "Wasm VM failed" of a start-up failure; test/envoy/failure.test.ts shows Envoy's line.
    assert.deepEqual(host.logs("error").map((l) => l.message), ["Function: proxy_on_request_body failed: Uncaught RuntimeError: unreachable"]);
  });

  for (const policy of ["FAIL_CLOSED", "FAIL_OPEN", "FAIL_RELOAD"] as const) {
    it(`the stream that trapped gets 503 wasm_fail_stream under ${policy}`, () => {
      const { trapping } = trapOnce(policy);
      assert.deepEqual(trapping.localReply, { status: 503, details: "wasm_fail_stream", body: Buffer.alloc(0), headers: [], grpcStatus: 14 });
      assert.deepEqual(trapping.downstream.headers, [[":status", "503"]]);
      assert.equal(trapping.upstream.ended, false);
    });
  }

  it("FAIL_CLOSED: later streams get 503 without entering the VM", () => {
    const { host } = trapOnce("FAIL_CLOSED");
    const ctx = get(host);
    assert.equal(ctx.localReply?.status, 503);
    assert.equal(ctx.downstream.ended, true);
    assert.equal(ctx.upstream.headers, undefined);
    assert.deepEqual(lines(host), []);
    assert.equal(host.traps, 1);
  });

  it("FAIL_CLOSED: a stream opened before the trap fails on its next callback", () => {
    const host = startHost(trapModule());
    const early = host.newHttpContext();
    early.requestHeaders(REQUEST, false);
    const trapping = host.newHttpContext();
    trapping.requestHeaders(REQUEST, false);
    trapping.requestBody(Buffer.from("{}"), true);
    early.requestBody(Buffer.from("x"), true);
    assert.equal(early.localReply?.status, 503);
  });

  it("FAIL_OPEN: later streams pass through untouched", () => {
    const { host } = trapOnce("FAIL_OPEN");
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("{}"), true);
    ctx.responseHeaders([[":status", "200"]], true);
    assert.deepEqual(ctx.upstream.headers, REQUEST);
    assert.equal(ctx.upstream.body.toString(), "{}");
    assert.deepEqual(ctx.downstream.headers, [[":status", "200"]]);
    assert.equal(ctx.localReply, undefined);
    assert.deepEqual(lines(host), []);
  });

  it("FAIL_RELOAD: the next stream gets a fresh, started VM; stats carry over", () => {
    const { host } = trapOnce("FAIL_RELOAD", { reloadBaseIntervalMs: 0 });
    const ctx = get(host);
    assert.deepEqual(lines(host), ["vm start", "headers"]);
    assert.equal(ctx.localReply, undefined);
    assert.deepEqual(ctx.upstream.headers, REQUEST);
    assert.equal(host.vmFailed, false);
    assert.equal(host.metric("reqs"), 2);
  });

  it("FAIL_RELOAD: within the backoff interval streams fail closed, after it the VM reloads", () => {
    let now = 0;
    const { host } = trapOnce("FAIL_RELOAD", { reloadBaseIntervalMs: 1000, monotonicMs: () => now });
    now = 999;
    assert.equal(get(host).localReply?.status, 503);
    now = 2000;
    assert.equal(get(host).localReply, undefined);
  });
});

describe("host: start-up", () => {
  const refusals: Array<{ name: string; hook: string; body: number[] }> = [
    { name: "proxy_on_vm_start returns 0", hook: "proxy_on_vm_start", body: i32(0) },
    { name: "proxy_on_configure returns 0", hook: "proxy_on_configure", body: i32(0) },
    { name: "proxy_on_configure traps", hook: "proxy_on_configure", body: op.unreachable },
  ];
  for (const t of refusals) {
    it(`start() is false when ${t.name}, and no stream can be opened`, () => {
      const host = ProxyWasmHost.load(new ProxyModule([]).on(t.hook, 2, t.body).build());
      assert.equal(host.start(), false);
      assert.equal(host.started, false);
      assert.throws(() => host.newHttpContext(), /not started/);
      assert.ok(host.logs("critical").some((l) => /failed to load/.test(l.message)));
    });
  }

  it("a refused configuration logs Envoy's lines: Wasm::error, then the plugin's two critical lines", () => {
    // proxy-wasm-cpp-host src/wasm.cc createWasm: fail(ConfigureFailed, "Failed to configure base
    // Wasm plugin"), which Envoy's Wasm::error prefixes (source/extensions/common/wasm/wasm.cc);
    // then PluginConfig's callback (plugin.cc) and getOrCreateThreadLocalPlugin (wasm.cc), whose
    // second line follows the deprecated fail_open field, so FAIL_OPEN prints it too.
    // A trap in on_configure is logged by the runtime first, then the same three lines.
    const cases = [
      { hook: "proxy_on_configure", body: i32(0), first: [] },
      { hook: "proxy_on_configure", body: op.unreachable, first: ["error Function: proxy_on_configure failed: Uncaught RuntimeError: unreachable"] },
    ];
    for (const failurePolicy of ["FAIL_CLOSED", "FAIL_OPEN"] as const) {
      for (const c of cases) {
        const host = ProxyWasmHost.load(new ProxyModule([]).on(c.hook, 2, c.body).build(), { failurePolicy, pluginName: "p" });
        assert.equal(host.start(), false);
        assert.deepEqual(host.logs("error").map((l) => `${l.level} ${l.message}`), [
          ...c.first,
          "error Wasm VM failed Failed to configure base Wasm plugin",
          "critical Plugin p failed to load",
          "critical Plugin configured to fail closed failed to load",
        ]);
      }
    }
  });

  it("proxy_on_vm_start returning 0 logs Envoy's \"Failed to start base Wasm\" (proxy-wasm-cpp-host src/wasm.cc)", () => {
    const host = ProxyWasmHost.load(new ProxyModule([]).on("proxy_on_vm_start", 2, i32(0)).build());
    assert.equal(host.start(), false);
    assert.equal(host.logs("error")[0].message, "Wasm VM failed Failed to start base Wasm");
  });

  it("traps a host call _start may not make (a restricted capability)", () => {
    const m = new ProxyModule(["proxy_get_property"]);
    m.on("_start", 0, [...m.call("proxy_get_property", 0, 0, 16, 20), ...drop], false);
    const host = ProxyWasmHost.load(m.build());
    assert.equal(host.start(), false);
    assert.equal(host.traps, 1);
  });

  it("lets _start log", () => {
    const m = new ProxyModule([]);
    m.on("_start", 0, m.log("hello from _start"), false);
    const host = ProxyWasmHost.load(m.build(), { logLevel: "info" });
    assert.equal(host.start(), true);
    assert.deepEqual(lines(host), ["hello from _start"]);
  });

  it("proc_exit alone does not fail the VM (Envoy only logs it); AssemblyScript's abort traps right after", () => {
    const exit = [{ module: "wasi_unstable", name: "proc_exit", params: ["i32" as const], results: [] }];
    const survive = new ProxyModule([], "0_2_0", exit);
    survive.on("proxy_on_request_headers", 3, [...survive.call("wasi_unstable.proc_exit", 255), ...i32(0)]);
    const host = startHost(survive.build());
    assert.deepEqual(get(host).upstream.headers, REQUEST);
    assert.equal(host.vmFailed, false);

    const abort = new ProxyModule([], "0_2_0", exit);
    abort.on("proxy_on_request_headers", 3, [...abort.call("wasi_unstable.proc_exit", 255), ...op.unreachable]);
    const aborting = startHost(abort.build());
    assert.equal(get(aborting).localReply?.status, 503);
    assert.equal(aborting.traps, 1);
  });
});
