// Shared helpers for the emulator's tests.
import * as assert from "node:assert/strict";
import { HeaderList, HostOptions, ProxyWasmHost, WasmResult } from "../../filter/host";

export function startHost(wasm: Uint8Array, options: HostOptions = {}): ProxyWasmHost {
  const host = ProxyWasmHost.load(wasm, { logLevel: "trace", ...options });
  assert.equal(host.start(), true, "test module failed to start: " + host.logs().map((l) => l.message).join("\n"));
  return host;
}

/** The host's own line when the VM fails: Envoy's Wasm::error, or a trap as the runtime reports it. */
export const VM_FAILURE_LINE = /^(Wasm VM failed |Function: \S+ failed: )/;

/** Log lines at info level and above, without the host's own VM failure lines. */
export function lines(host: ProxyWasmHost): string[] {
  return host.logs("info").filter((l) => !VM_FAILURE_LINE.test(l.message)).map((l) => l.message);
}

/** Decodes a one-letter result code logged by ProxyModule.logCode. */
export const code = (letter: string): number => letter.charCodeAt(0) - 65;
export const letter = (result: number): string => String.fromCharCode(65 + result);
export const R = WasmResult;

export const REQUEST: HeaderList = [[":method", "POST"], [":path", "/mcp"], [":authority", "gateway"], [":scheme", "http"]];

/** Parses the pairs wire format (u32 count, u32 sizes, NUL-terminated keys and values). */
export function parsePairsBytes(b: Buffer): HeaderList {
  const n = b.readUInt32LE(0);
  const out: HeaderList = [];
  let p = 4 + n * 8;
  for (let i = 0; i < n; i++) {
    const ks = b.readUInt32LE(4 + i * 8);
    const vs = b.readUInt32LE(8 + i * 8);
    assert.equal(b[p + ks], 0, "key not NUL-terminated");
    const k = b.toString("latin1", p, p + ks);
    p += ks + 1;
    assert.equal(b[p + vs], 0, "value not NUL-terminated");
    const v = b.toString("latin1", p, p + vs);
    p += vs + 1;
    out.push([k, v]);
  }
  assert.equal(p, b.length, "trailing bytes after the pairs");
  return out;
}

/** Encodes pairs the way a module would hand them to the host. */
export function pairsBytes(pairs: HeaderList): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(4 + pairs.length * 8);
  head.writeUInt32LE(pairs.length, 0);
  pairs.forEach(([k, v], i) => {
    head.writeUInt32LE(Buffer.byteLength(k, "latin1"), 4 + i * 8);
    head.writeUInt32LE(Buffer.byteLength(v, "latin1"), 8 + i * 8);
    parts.push(Buffer.from(k, "latin1"), Buffer.alloc(1), Buffer.from(v, "latin1"), Buffer.alloc(1));
  });
  return Buffer.concat([head, ...parts]);
}
