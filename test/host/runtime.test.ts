// Modules built with @solo-io/proxy-runtime 0.1.8, as the project's filter is: a fixture
// compiled here with asc, and a smoke test of the real filter build.
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ProxyWasmHost } from "../../filter/host";
import { REQUEST, lines } from "./helpers";

const ROOT = path.join(__dirname, "..", "..");
const FILTER = path.join(ROOT, "filter", "build", "mcp_filter.wasm");

describe("host: a proxy-runtime module (fixture compiled with asc)", () => {
  let wasm: Buffer;
  before(() => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "host-fixture-")), "fixture.wasm");
    const asc = path.join(ROOT, "node_modules", ".bin", "asc");
    // The same runtime and abort handler as filter/asconfig.json's release target.
    execFileSync(asc, [path.join(__dirname, "fixtures", "runtime-fixture.ts"), "-b", out, "--runtime", "full",
      "--use", "abort=abort_proc_exit", "-O3"], { cwd: ROOT, stdio: "pipe" });
    wasm = fs.readFileSync(out);
  });

  function start(options = {}) {
    const host = ProxyWasmHost.load(wasm, { rootId: "fixture", pluginConfig: "cfg", logLevel: "info", ...options });
    assert.equal(host.start(), true, host.logs().map((l) => l.message).join("\n"));
    return host;
  }

  it("starts with the root id from plugin_root_id and reads its configuration", () => {
    const host = start();
    assert.deepEqual(lines(host), ["configured: cfg"]);
  });

  it("does not start under another root id (the runtime finds no root context factory)", () => {
    const host = ProxyWasmHost.load(wasm, { rootId: "other", pluginConfig: "cfg" });
    assert.equal(host.start(), false);
  });

  it("does not start when its onConfigure refuses the configuration", () => {
    assert.equal(ProxyWasmHost.load(wasm, { rootId: "fixture", pluginConfig: "refuse" }).start(), false);
  });

  it("passes a request through with the header it added", () => {
    const host = start();
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    ctx.requestBody(Buffer.from("{}"), true);
    ctx.responseHeaders([[":status", "200"]], true);
    assert.deepEqual(ctx.upstream.headers?.at(-1), ["x-fixture", "seen 4 headers"]);
    assert.equal(ctx.upstream.body.toString(), "{}");
    assert.deepEqual(ctx.downstream.headers, [[":status", "200"], ["x-fixture-response", "1"]]);
  });

  it("reports every host function the module calls, by import name and in order, to onHostCall", () => {
    const calls: string[] = [];
    const host = start({ onHostCall: (name: string) => calls.push(name) });
    calls.length = 0;
    const ctx = host.newHttpContext();
    ctx.requestHeaders(REQUEST, false);
    // The fixture reads :path, then adds x-fixture (proxy-runtime's header helpers).
    const read = calls.indexOf("env.proxy_get_header_map_value");
    const add = calls.indexOf("env.proxy_add_header_map_value");
    assert.ok(read >= 0 && add > read, calls.join(" "));
    assert.ok(calls.every((c) => c.startsWith("env.") || c.startsWith("wasi_snapshot_preview1.")), calls.join(" "));
  });

  it("judges a buffered body and releases the headers it changed (allow_on_headers_stop_iteration)", () => {
    const host = start({ allowOnHeadersStopIteration: true });
    const ctx = host.newHttpContext();
    ctx.requestHeaders([[":method", "POST"], [":path", "/judge"]], false);
    ctx.requestBody(Buffer.from("o"), false);
    ctx.requestBody(Buffer.from("k"), true);
    assert.ok(lines(host).includes("body 2: ok"));
    assert.deepEqual(ctx.upstream.headers?.at(-1), ["x-verdict", "allow"]);
  });

  it("answers with its local reply, headers lowercased", () => {
    const host = start();
    const ctx = host.newHttpContext();
    ctx.requestHeaders([[":method", "GET"], [":path", "/deny"]], true);
    assert.equal(ctx.localReply?.status, 403);
    assert.equal(ctx.localReply?.grpcStatus, 7);
    assert.deepEqual(ctx.localReply?.headers, [["x-denied-by", "fixture"]]);
    assert.equal(ctx.downstream.body.toString(), "denied");
    assert.equal(ctx.upstream.headers, undefined);
  });

  it("an AssemblyScript abort (proc_exit, then unreachable) fails the VM", () => {
    const host = start();
    const ctx = host.newHttpContext();
    ctx.requestHeaders([[":method", "GET"], [":path", "/abort"]], true);
    assert.equal(host.traps, 1);
    assert.equal(ctx.localReply?.status, 503);
    assert.ok(host.logs("critical").some((l) => l.message.startsWith("fixture abort")));
  });
});

describe("host: the real filter build", () => {
  it("loads: every import is one Envoy provides for ABI 0.2.0", () => {
    assert.ok(fs.existsSync(FILTER), `missing ${FILTER}: run npm run build:filter`);
    assert.equal(ProxyWasmHost.load(FILTER).abi, "0_2_0");
  });

  it("starts as root id mcp_filter with an allow-all policy and passes a request through", () => {
    const host = ProxyWasmHost.load(FILTER, { pluginConfig: JSON.stringify({ defaultAction: "allow" }), allowOnHeadersStopIteration: true });
    assert.equal(host.start(), true, host.logs().map((l) => l.message).join("\n"));
    const ctx = host.newHttpContext();
    ctx.requestHeaders([...REQUEST, ["content-type", "application/json"], ["accept", "application/json, text/event-stream"]], false);
    ctx.requestBody(Buffer.from('{"jsonrpc":"2.0","id":1,"method":"ping"}'), true);
    assert.equal(ctx.upstream.ended, true);
    assert.equal(ctx.upstream.body.toString(), '{"jsonrpc":"2.0","id":1,"method":"ping"}');
    assert.equal(host.traps, 0);
  });
});
