// The audit line and the replies are written through a buffer that makes room for each part
// as it is written (abi/bytes.ts), never into a size computed beforehand. Long client strings
// of the characters that grow most when escaped (control characters become six bytes each) must
// give whole, well-formed output, and leave the next request's output and the VM intact.
import * as assert from "node:assert/strict";
import { startHost, post, call, audits, POLICY } from "./helpers";
import { ProxyWasmHost } from "../../filter/host";

const FIELD_MAX = 4096; // bytes of a client string an audit line or a denial repeats
const GAUGE = "mcp_filter.vm_memory_bytes";

/** A tool name whose first FIELD_MAX bytes are control characters, a lone surrogate and ASCII. */
const LONG_NAME = "\u0001".repeat(3000) + "\ud800" + "x".repeat(20_000);
/** What an audit line or a denial keeps of it: FIELD_MAX bytes (the surrogate is 3), then "…". */
const LONG_NAME_KEPT = "\u0001".repeat(3000) + "\ud800" + "x".repeat(FIELD_MAX - 3003) + "…";
const LONG_ID = 'i"\\'.repeat(5000);

function longCall(id: string | number = LONG_ID, name = LONG_NAME): string {
  return JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: {} } });
}

/** The VM is sane: no trap, and the memory gauge is its memory, which stayed small. */
function assertVmIntact(host: ProxyWasmHost): void {
  assert.equal(host.traps, 0);
  assert.equal(host.metric(GAUGE), host.memoryBytes);
  assert.ok(host.memoryBytes < 16 * 1024 * 1024, `${host.memoryBytes} bytes of VM memory`);
}

describe("filter: output is bounds-checked, whatever the length of what the client sends", () => {
  it("writes a whole audit line for the longest values a request carries, and the next line is intact", () => {
    const host = startHost(POLICY);
    const user = 'u"\\\t' + 'a"\\'.repeat(2000); // header values are bytes; the emulator sends them as Latin-1
    const session = "s".repeat(3000) + '"';
    const protocol = "p\\".repeat(1000);
    const x = post(host, longCall(), { headers: [["x-user-id", user], ["mcp-session-id", session], ["mcp-protocol-version", protocol]] });
    x.ctx.done();
    assert.equal(x.forwarded, true);
    const [line] = audits(host);
    assert.deepEqual(line, {
      audit: "mcp", session, user, protocol, method: "tools/call", id: LONG_ID, tool: LONG_NAME_KEPT,
      decision: "allow", rule: "default", mode: "enforce", forwarded: true, bytes: Buffer.byteLength(longCall()),
    });

    const next = post(host, call("get-env", 2), { headers: [["x-user-id", "bob"]] });
    next.ctx.done();
    assert.equal(next.json.error.message, "Unknown tool: get-env");
    assert.deepEqual(audits(host)[1], {
      audit: "mcp", session: null, user: "bob", protocol: null, method: "tools/call", id: 2, tool: "get-env",
      decision: "deny", rule: "deny-risky-tools", mode: "enforce", forwarded: false, bytes: Buffer.byteLength(call("get-env", 2)),
    });
    assertVmIntact(host);
  });

  it("writes a whole denial for a long tool name and id, and the next reply is intact", () => {
    const host = startHost({ defaultAction: "deny", denyResponse: "explain" });
    const x = post(host, longCall());
    x.ctx.done();
    assert.deepEqual(x.json, {
      jsonrpc: "2.0", id: LONG_ID, error: { code: -32003, message: "Denied by policy rule default: tools/call " + LONG_NAME_KEPT },
    });
    const next = post(host, call("echo", 3));
    next.ctx.done();
    assert.deepEqual(next.json, { jsonrpc: "2.0", id: 3, error: { code: -32003, message: "Denied by policy rule default: tools/call echo" } });
    assertVmIntact(host);
  });

  it("writes a whole batch reply of long denials, one entry per message", () => {
    const host = startHost({ defaultAction: "deny", maxBatchMessages: 100, maxBodyBytes: 4 * 1024 * 1024 });
    const batch = "[" + Array.from({ length: 100 }, (_, i) => longCall(i)).join(",") + "]";
    const x = post(host, batch);
    x.ctx.done();
    assert.equal(x.json.length, 100);
    x.json.forEach((entry: any, i: number) => {
      assert.deepEqual(entry, { jsonrpc: "2.0", id: i, error: { code: -32602, message: "Unknown tool: " + LONG_NAME_KEPT } });
    });
    assert.equal(audits(host).length, 100);
    for (const line of audits(host)) assert.equal(line.tool, LONG_NAME_KEPT);
    const next = post(host, call("echo", 7));
    next.ctx.done();
    assert.deepEqual(next.json, { jsonrpc: "2.0", id: 7, error: { code: -32602, message: "Unknown tool: echo" } });
    assertVmIntact(host);
  });
});
