// Logging, properties, configuration buffers, time, memory checks and the other host services.
import * as assert from "node:assert/strict";
import { LogLevel } from "../../filter/host";
import { REQUEST, R, letter, lines, startHost } from "./helpers";
import { Abi, OUT_PTR, OUT_SIZE, OUT_U64, ProxyModule, drop, i32, op } from "./proxy-module";

/** A module whose on_request_headers runs `body(m)` and returns Continue. */
function onHeaders(imports: string[], body: (m: ProxyModule) => number[], abi: Abi = "0_2_0", extra: ConstructorParameters<typeof ProxyModule>[2] = []): Uint8Array {
  const m = new ProxyModule(imports, abi, extra);
  return m.on("proxy_on_request_headers", abi === "0_1_0" ? 2 : 3, [...body(m), ...i32(0)]).build();
}

function run(wasm: Uint8Array, options = {}) {
  const host = startHost(wasm, options);
  host.clearLogs();
  const ctx = host.newHttpContext();
  ctx.requestHeaders(REQUEST, true);
  return { host, ctx, lines: lines(host) };
}

describe("host: logging", () => {
  const levels: LogLevel[] = ["trace", "debug", "info", "warn", "error", "critical"];
  it("keeps lines at or above the configured level, in order, and drops the rest", () => {
    const wasm = onHeaders([], (m) => levels.flatMap((l, n) => m.log(l, n)));
    const { host } = run(wasm, { logLevel: "warn" });
    assert.deepEqual(host.logs().map((e) => [e.level, e.message]), [["warn", "warn"], ["error", "error"], ["critical", "critical"]]);
    assert.deepEqual(host.logs("error").map((e) => e.message), ["error", "critical"]);
  });

  it("hands every kept line to onLog", () => {
    const seen: string[] = [];
    run(onHeaders([], (m) => m.log("hello")), { onLog: (e: { message: string }) => seen.push(e.message), logLevel: "info" });
    assert.deepEqual(seen, ["hello"]);
  });

  it("answers BadArgument for a level above 5 and InvalidMemoryAccess for a message out of memory", () => {
    const { lines: l } = run(onHeaders([], (m) => [
      ...m.logCode(m.call("proxy_log", 6, 0, 1)), ...m.logCode(m.call("proxy_log", 0, 0x7ffffff0, 100)),
    ]));
    assert.deepEqual(l, [letter(R.BadArgument), letter(R.InvalidMemoryAccess)]);
  });

  it("writes WASI stdout to the log at info and stderr at error, without the trailing newline", () => {
    const fdWrite = [{ module: "wasi_snapshot_preview1", name: "fd_write", params: ["i32", "i32", "i32", "i32"] as ["i32", "i32", "i32", "i32"], results: ["i32" as const] }];
    const wasm = onHeaders([], (m) => {
      const a = m.str("to stdout\n"), b = m.str("to stderr"), iov = m.str(Buffer.alloc(16));
      const store = (at: number, v: number) => [...i32(at), ...i32(v), ...op.store()];
      return [...store(iov.ptr, a.ptr), ...store(iov.ptr + 4, a.len), ...store(iov.ptr + 8, b.ptr), ...store(iov.ptr + 12, b.len),
        ...m.call("wasi_snapshot_preview1.fd_write", 1, iov.ptr, 1, OUT_SIZE), ...drop,
        ...m.call("wasi_snapshot_preview1.fd_write", 2, iov.ptr + 8, 1, OUT_SIZE), ...drop];
    }, "0_2_0", fdWrite);
    const { host } = run(wasm);
    assert.deepEqual(host.logs().map((e) => [e.level, e.message]), [["info", "to stdout"], ["error", "to stderr"]]);
  });

  it("proxy_get_log_level (ABI 0.2.1) answers the configured level", () => {
    const m = new ProxyModule(["proxy_get_log_level"], "0_2_1");
    m.on("proxy_on_request_headers", 3, [...m.call("proxy_get_log_level", OUT_SIZE), ...drop, ...m.logCode([...i32(OUT_SIZE), ...op.load()], 4), ...i32(0)]);
    const { host } = run(m.build(), { logLevel: "warn" });
    assert.deepEqual(host.logs().map((e) => e.message), [letter(3)]);
  });
});

describe("host: properties and configuration", () => {
  const props: Array<{ path: string; want: string[] }> = [
    { path: "plugin_root_id", want: [letter(R.Ok), "mcp_filter"] },
    { path: "plugin_name", want: [letter(R.Ok), "mcp-policy"] },
    { path: "plugin_vm_id", want: [letter(R.Ok), "vm1"] },
    { path: "request\0path", want: [letter(R.Ok), "/mcp"] },
    { path: "request\0method", want: [letter(R.Ok), "POST"] },
    { path: "request\0headers\0:AUTHORITY", want: [letter(R.Ok), "gateway"] },
    { path: "request\0url_path", want: [letter(R.Ok), "/mcp"] },
    { path: "no_such_property", want: [letter(R.NotFound), ""] },
    { path: "plugin_root_id\0deeper", want: [letter(R.NotFound), ""] },
  ];
  for (const t of props) {
    it(`get_property("${t.path.replace(/\0/g, "\\0")}")`, () => {
      const { lines: l } = run(onHeaders(["proxy_get_property"], (m) => {
        const p = m.str(t.path);
        return [...m.logCode(m.call("proxy_get_property", p.ptr, p.len, OUT_PTR, OUT_SIZE)), ...m.logOut()];
      }), { pluginName: "mcp-policy", vmId: "vm1" });
      assert.deepEqual(l, t.want);
    });
  }

  it("get_property of request attributes is NotFound once the request headers were continued", () => {
    const m = new ProxyModule(["proxy_get_property"]);
    const p = m.str("request\0path");
    m.on("proxy_on_response_headers", 3, [...m.logCode(m.call("proxy_get_property", p.ptr, p.len, OUT_PTR, OUT_SIZE)), ...i32(0)]);
    const host = startHost(m.build());
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, true);
    ctx.responseHeaders([[":status", "200"]], true);
    assert.deepEqual(lines(host), [letter(R.NotFound)]);
  });

  it("set_property stores a value the stream can read back; the root context has nowhere to store it", () => {
    const m = new ProxyModule(["proxy_set_property", "proxy_get_property"]);
    const k = m.str("my_key"), v = m.str("my value");
    m.on("proxy_on_vm_start", 2, [...m.logCode(m.call("proxy_set_property", k.ptr, k.len, v.ptr, v.len)), ...i32(1)]);
    m.on("proxy_on_request_headers", 3, [...m.logCode(m.call("proxy_set_property", k.ptr, k.len, v.ptr, v.len)),
      ...m.call("proxy_get_property", k.ptr, k.len, OUT_PTR, OUT_SIZE), ...drop, ...m.logOut(), ...i32(0)]);
    const host = startHost(m.build());
    host.newHttpContext().requestHeaders(REQUEST, true);
    assert.deepEqual(lines(host), [letter(R.NotFound), letter(R.Ok), "my value"]);
  });

  it("the plugin configuration is readable in on_configure, not in on_vm_start; the VM configuration in both", () => {
    const m = new ProxyModule(["proxy_get_buffer_bytes"]);
    const read = (type: number) => [...m.logCode(m.call("proxy_get_buffer_bytes", type, 0, 100, OUT_PTR, OUT_SIZE)), ...m.logOut()];
    m.on("proxy_on_vm_start", 2, [...read(7), ...read(6), ...i32(1)]);
    m.on("proxy_on_configure", 2, [...read(7), ...read(6), ...i32(1)]);
    const host = startHost(m.build(), { pluginConfig: "{plugin}", vmConfig: "{vm}" });
    assert.deepEqual(lines(host), [letter(R.NotFound), "", letter(R.Ok), "{vm}", letter(R.Ok), "{plugin}", letter(R.Ok), "{vm}"]);
  });

  it("get_configuration (ABI 0.1.0) answers the plugin configuration while configuring", () => {
    const m = new ProxyModule([], "0_1_0",
      [{ module: "env", name: "proxy_get_configuration", params: ["i32", "i32"], results: ["i32"] }]);
    m.on("proxy_on_configure", 2, [...m.call("env.proxy_get_configuration", OUT_PTR, OUT_SIZE), ...drop, ...m.logOut(), ...i32(1)]);
    const host = startHost(m.build(), { pluginConfig: "{plugin}" });
    assert.deepEqual(lines(host), ["{plugin}"]);
  });
});

describe("host: other host services", () => {
  it("get_current_time_nanoseconds writes the clock as a little-endian u64", () => {
    const { lines: l } = run(onHeaders(["proxy_get_current_time_nanoseconds"], (m) => [
      ...m.call("proxy_get_current_time_nanoseconds", OUT_U64), ...drop,
      ...m.call("proxy_log", 2, OUT_U64, 8), ...drop,
    ]), { clock: () => 0x0102030405060708n });
    assert.deepEqual(Buffer.from(l[0], "latin1"), Buffer.from([8, 7, 6, 5, 4, 3, 2, 1]));
  });

  it("answers InvalidMemoryAccess, not an exception, for an out-of-range out-parameter", () => {
    const { lines: l, host } = run(onHeaders(["proxy_get_current_time_nanoseconds", "proxy_get_header_map_pairs"], (m) => [
      ...m.logCode(m.call("proxy_get_current_time_nanoseconds", -4)),
      ...m.logCode(m.call("proxy_get_header_map_pairs", 0, -4, OUT_SIZE)),
    ]));
    assert.deepEqual(l, [letter(R.InvalidMemoryAccess), letter(R.InvalidMemoryAccess)]);
    assert.equal(host.traps, 0);
  });

  it("set_effective_context answers BadArgument for an unknown context and Ok for a live one", () => {
    const { lines: l } = run(onHeaders(["proxy_set_effective_context"], (m) => [
      ...m.logCode(m.call("proxy_set_effective_context", 99)), ...m.logCode(m.call("proxy_set_effective_context", 1)),
    ]));
    assert.deepEqual(l, [letter(R.BadArgument), letter(R.Ok)]);
  });

  it("set_tick_period_milliseconds is recorded and tick() fires proxy_on_tick", () => {
    const m = new ProxyModule(["proxy_set_tick_period_milliseconds"]);
    m.on("proxy_on_vm_start", 2, [...m.call("proxy_set_tick_period_milliseconds", 250), ...drop, ...i32(1)]);
    m.on("proxy_on_tick", 1, m.log("tick"), false);
    const host = startHost(m.build());
    assert.equal(host.tickPeriodMs, 250);
    host.tick();
    assert.deepEqual(lines(host), ["tick"]);
  });

  const calls: Array<{ name: string; body: (m: ProxyModule) => number[]; result: number }> = [
    { name: "http_call to a cluster that does not exist is BadArgument", result: R.BadArgument,
      body: (m) => { const c = m.str("no_cluster"); return m.call("proxy_http_call", c.ptr, c.len, 0, 0, 0, 0, 0, 0, 1000, OUT_SIZE); } },
    { name: "grpc_call naming no cluster (not a GrpcService proto) is ParseFailure", result: R.ParseFailure,
      body: (m) => { const c = m.str("\x02"); return m.call("proxy_grpc_call", c.ptr, c.len, 0, 0, 0, 0, 0, 0, 0, 0, 1000, OUT_SIZE); } },
    { name: "call_foreign_function of an unregistered name is NotFound", result: R.NotFound,
      body: (m) => { const f = m.str("no_such_fn"); return m.call("proxy_call_foreign_function", f.ptr, f.len, 0, 0, OUT_PTR, OUT_SIZE); } },
    { name: "proxy_done outside VM shutdown is NotFound", result: R.NotFound, body: (m) => m.call("proxy_done") },
    { name: "get_shared_data of a missing key is NotFound", result: R.NotFound,
      body: (m) => { const k = m.str("k"); return m.call("proxy_get_shared_data", k.ptr, k.len, OUT_PTR, OUT_SIZE, OUT_U64); } },
    { name: "dequeue from an unknown queue is NotFound", result: R.NotFound, body: (m) => m.call("proxy_dequeue_shared_queue", 77, OUT_PTR, OUT_SIZE) },
  ];
  for (const t of calls) {
    it(t.name, () => {
      const imports = ["proxy_http_call", "proxy_grpc_call", "proxy_call_foreign_function", "proxy_done", "proxy_get_shared_data", "proxy_dequeue_shared_queue"];
      assert.deepEqual(run(onHeaders(imports, (m) => m.logCode(t.body(m)))).lines, [letter(t.result)]);
    });
  }

  it("compress and uncompress foreign functions round-trip through zlib", () => {
    const { lines: l } = run(onHeaders(["proxy_call_foreign_function"], (m) => {
      const c = m.str("compress"), u = m.str("uncompress"), data = m.str("hello hello hello");
      return [...m.call("proxy_call_foreign_function", c.ptr, c.len, data.ptr, data.len, OUT_PTR, OUT_SIZE), ...drop,
        ...m.call("proxy_call_foreign_function", u.ptr, u.len, [...i32(OUT_PTR), ...op.load()], [...i32(OUT_SIZE), ...op.load()], OUT_PTR, OUT_SIZE), ...drop,
        ...m.logOut()];
    }));
    assert.deepEqual(l, ["hello hello hello"]);
  });

  it("shared data keeps a value with a cas that a stale cas cannot overwrite", () => {
    const { lines: l } = run(onHeaders(["proxy_set_shared_data", "proxy_get_shared_data"], (m) => {
      const k = m.str("k"), a = m.str("a"), b = m.str("b");
      return [...m.logCode(m.call("proxy_set_shared_data", k.ptr, k.len, a.ptr, a.len, 0)),
        ...m.logCode(m.call("proxy_set_shared_data", k.ptr, k.len, b.ptr, b.len, 99)),
        ...m.call("proxy_get_shared_data", k.ptr, k.len, OUT_PTR, OUT_SIZE, OUT_U64), ...drop, ...m.logOut()];
    }));
    assert.deepEqual(l, [letter(R.Ok), letter(R.CasMismatch), "a"]);
  });

  it("a shared queue delivers proxy_on_queue_ready to the root context after the call, then dequeues", () => {
    const m = new ProxyModule(["proxy_register_shared_queue", "proxy_enqueue_shared_queue", "proxy_dequeue_shared_queue"]);
    const q = m.str("q"), item = m.str("item");
    m.on("proxy_on_vm_start", 2, [...m.call("proxy_register_shared_queue", q.ptr, q.len, 128), ...drop, ...i32(1)]);
    m.on("proxy_on_request_headers", 3, [...m.call("proxy_enqueue_shared_queue", [...i32(128), ...op.load()], item.ptr, item.len), ...drop,
      ...m.log("enqueued"), ...i32(0)]);
    m.on("proxy_on_queue_ready", 2, [...m.log("ready"),
      ...m.logCode(m.call("proxy_dequeue_shared_queue", [...i32(128), ...op.load()], OUT_PTR, OUT_SIZE)), ...m.logOut(),
      ...m.logCode(m.call("proxy_dequeue_shared_queue", [...i32(128), ...op.load()], OUT_PTR, OUT_SIZE))], false);
    const host = startHost(m.build());
    host.newHttpContext().requestHeaders(REQUEST, true);
    assert.deepEqual(lines(host), ["enqueued", "ready", letter(R.Ok), "item", letter(R.Empty)]);
  });
});

describe("host: WASI and memory", () => {
  const I = "i32" as const;
  const wasi = (name: string, params: Array<"i32" | "i64">) => ({ module: "wasi_snapshot_preview1", name, params, results: [I] });
  const cases: Array<{ name: string; fn: ReturnType<typeof wasi>; args: number[][]; errno: number; after?: (m: ProxyModule) => number[]; want?: string[] }> = [
    { name: "clock_time_get of the process CPU clock is ENOTSUP (58)", fn: wasi("clock_time_get", [I, "i64", I]), args: [i32(2), op.i64(0n), i32(OUT_U64)], errno: 58 },
    { name: "random_get above 64 KiB is EINVAL (28)", fn: wasi("random_get", [I, I]), args: [i32(OUT_U64), i32(65537)], errno: 28 },
    { name: "sched_yield succeeds", fn: wasi("sched_yield", []), args: [], errno: 0 },
    { name: "fd_read is ENOSYS (52): there are no files", fn: wasi("fd_read", [I, I, I, I]), args: [i32(0), i32(0), i32(0), i32(OUT_SIZE)], errno: 52 },
    { name: "path_open is ENOENT (44)", fn: wasi("path_open", [I, I, I, I, I, "i64", "i64", I, I]), args: [i32(3), i32(0), i32(0), i32(0), i32(0), op.i64(0n), op.i64(0n), i32(0), i32(OUT_SIZE)], errno: 44 },
    { name: "fd_write to a file descriptor other than 1 or 2 is EBADF (8)", fn: wasi("fd_write", [I, I, I, I]), args: [i32(3), i32(0), i32(0), i32(OUT_SIZE)], errno: 8 },
    {
      name: "environ_sizes_get counts vm_config environment variables", fn: wasi("environ_sizes_get", [I, I]), args: [i32(OUT_PTR), i32(OUT_SIZE)], errno: 0,
      after: (m) => [...m.logCode([...i32(OUT_PTR), ...op.load()]), ...m.logCode([...i32(OUT_SIZE), ...op.load()])], want: [letter(1), letter(5)],
    },
  ];
  for (const t of cases) {
    it(`WASI ${t.name}`, () => {
      const { lines: l } = run(onHeaders([], (m) => [...m.logCode(m.call(`wasi_snapshot_preview1.${t.fn.name}`, ...t.args)), ...(t.after?.(m) ?? [])], "0_2_0", [t.fn]),
        { env: { AB: "c" } });
      assert.deepEqual(l, [letter(t.errno), ...(t.want ?? [])]);
    });
  }

  it("refreshes its view of guest memory after the module's malloc grows it", () => {
    const m = new ProxyModule(["proxy_get_buffer_bytes"]);
    const last = [...i32(OUT_PTR), ...op.load(), ...i32(OUT_SIZE), ...op.load(), ...op.add, ...i32(-1), ...op.add];
    m.on("proxy_on_request_body", 3, [...m.call("proxy_get_buffer_bytes", 0, 0, [...i32(1 << 20)], OUT_PTR, OUT_SIZE), ...drop,
      ...m.call("proxy_log", 2, last, 1), ...drop, ...i32(0)]);
    const host = startHost(m.build());
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    const body = Buffer.alloc(300000, "x");
    body[body.length - 1] = "Z".charCodeAt(0);
    ctx.requestBody(body, true);
    assert.deepEqual(lines(host), ["Z"]);
  });

  it("allocates through proxy_on_memory_allocate when the module exports no malloc", () => {
    const m = new ProxyModule(["proxy_get_property"]);
    const p = m.str("plugin_root_id");
    m.on("proxy_on_request_headers", 3, [...m.call("proxy_get_property", p.ptr, p.len, OUT_PTR, OUT_SIZE), ...drop, ...m.logOut(), ...i32(0)]);
    m.b.func(["i32"], ["i32"], i32(4096), "proxy_on_memory_allocate");
    const host = startHost(m.build({ malloc: false }));
    host.newHttpContext().requestHeaders(REQUEST, true);
    assert.deepEqual(lines(host), ["mcp_filter"]);
  });

  it("get_status answers Ok with code 0 and an empty message", () => {
    const { lines: l } = run(onHeaders(["proxy_get_status"], (m) => m.logCode(m.call("proxy_get_status", OUT_U64, OUT_PTR, OUT_SIZE))));
    assert.deepEqual(l, [letter(R.Ok)]);
  });
});
