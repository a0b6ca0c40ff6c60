// All unsafe code of the filter lives in filter/assembly/abi/, as in the proxy-wasm Rust and Go
// SDKs: raw loads and stores, pointer casts, static memory, references counted by hand, host
// imports, unchecked reads and unmanaged objects. Everything above it uses abi/'s API.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

const ASSEMBLY = path.join(__dirname, "..", "..", "filter", "assembly");
const LAYER = path.join(ASSEMBLY, "abi");

/** What only abi/ may use. */
const RAW_MEMORY = [
  "load<", "store<", "changetype<", "__retain", "__release", "memory.data",
  "memory.copy", "memory.fill", "v128.load", "v128.store", "__new(", "__alloc(", "@external", "unchecked(", "@unmanaged",
];

/** Each use of a RAW_MEMORY token in `source`, as `line: token`. */
function rawMemoryUses(source: string): string[] {
  const uses: string[] = [];
  source.split("\n").forEach((line, i) => {
    for (const token of RAW_MEMORY) if (line.includes(token)) uses.push(`${i + 1}: ${token}`);
  });
  return uses;
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

describe("filter: the bottom layer owns everything unsafe", () => {
  it("finds each token it looks for (the check can fail)", () => {
    const sample = [
      "const a = load<u8>(p);", "store<u32>(p, 1);", "const s = changetype<usize>(x);", "__retain(p);", "__release(p);",
      "const d = memory.data(8);", "memory.copy(a, b, n);", "memory.fill(a, 0, n);", "const v = v128.load(p);",
      "v128.store(p, v);", "__new(n, id);", "__alloc(n);", '@external("env", "f")', "unchecked(a[i]);", "@unmanaged class X {}",
    ].join("\n");
    assert.deepEqual(rawMemoryUses(sample), RAW_MEMORY.map((token, i) => `${i + 1}: ${token}`));
    assert.deepEqual(rawMemoryUses("const bytes = new Bytes(8); bytes.at(0); loader(); storeValue();"), []);
  });

  it("keeps raw memory out of every file above abi/", () => {
    const domain = sources(ASSEMBLY).filter((f) => !f.startsWith(LAYER + path.sep));
    assert.ok(domain.length >= 10, `found only ${domain.length} files above abi/`);
    const found = domain.flatMap((f) => rawMemoryUses(fs.readFileSync(f, "utf8")).map((u) => `${path.relative(ASSEMBLY, f)}:${u}`));
    assert.deepEqual(found, []);
  });

  it("has only abi/ import the SDK (@solo-io/proxy-runtime), so a new toolchain changes abi/ alone", () => {
    const domain = sources(ASSEMBLY).filter((f) => !f.startsWith(LAYER + path.sep));
    const importers = domain.filter((f) => /from "@solo-io\/proxy-runtime/.test(fs.readFileSync(f, "utf8")));
    assert.deepEqual(importers.map((f) => path.relative(ASSEMBLY, f)), []);
    assert.ok(sources(LAYER).some((f) => /from "@solo-io\/proxy-runtime/.test(fs.readFileSync(f, "utf8"))), "abi/ imports the SDK");
  });

  it("has abi/ hold the raw memory (the layer the check protects exists)", () => {
    const layer = sources(LAYER).flatMap((f) => rawMemoryUses(fs.readFileSync(f, "utf8")));
    for (const token of ["load<", "store<", "changetype<", "__retain", "__release", "memory.data", "@external"]) {
      assert.ok(layer.some((u) => u.endsWith(": " + token)), `abi/ has no ${token}`);
    }
  });

  it("keeps every file of the filter small enough to read whole (400 lines at most)", () => {
    const long = sources(ASSEMBLY).map((f) => [path.relative(ASSEMBLY, f), fs.readFileSync(f, "utf8").split("\n").length] as const).filter(([, n]) => n > 400);
    assert.deepEqual(long, []);
  });
});
