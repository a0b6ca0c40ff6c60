// The emulator's shared data against proxy-wasm-cpp-host src/shared_data.cc (SharedData::get,
// ::set, ::nextCas), which Envoy's wasm extension uses for proxy_get/set_shared_data.
import * as assert from "node:assert/strict";
import { SharedDataStore, WasmResult } from "../../filter/host";

const R = WasmResult;

describe("host: shared data as proxy-wasm-cpp-host keeps it", () => {
  it("get of a missing key, or of a vm_id that has none, is NotFound", () => {
    const s = new SharedDataStore();
    assert.equal(s.get("vm", "k"), undefined);
    assert.equal(s.set("vm", "other", Buffer.from("v"), 0), R.Ok);
    assert.equal(s.get("vm", "k"), undefined);
  });

  it("gives the first value cas 1 and each later set the next number of one process-wide counter", () => {
    const s = new SharedDataStore();
    s.set("a", "k", Buffer.from("1"), 0);
    s.set("b", "k", Buffer.from("2"), 0);
    s.set("a", "k", Buffer.from("3"), 0);
    assert.deepEqual([s.get("a", "k")?.cas, s.get("b", "k")?.cas], [3, 2]);
    assert.equal(s.get("a", "k")?.value.toString(), "3");
  });

  it("set with a stale cas is CasMismatch and changes nothing; with the current cas it writes", () => {
    const s = new SharedDataStore();
    s.set("vm", "k", Buffer.from("a"), 0);
    const { cas } = s.get("vm", "k")!;
    assert.equal(s.set("vm", "k", Buffer.from("b"), cas), R.Ok);
    assert.equal(s.set("vm", "k", Buffer.from("c"), cas), R.CasMismatch);
    assert.equal(s.get("vm", "k")?.value.toString(), "b");
  });

  it("set with cas 0 overwrites whatever is there", () => {
    const s = new SharedDataStore();
    s.set("vm", "k", Buffer.from("a"), 0);
    assert.equal(s.set("vm", "k", Buffer.from("b"), 0), R.Ok);
    assert.equal(s.get("vm", "k")?.value.toString(), "b");
  });

  it("set of a missing key creates it whatever cas it names", () => {
    const s = new SharedDataStore();
    assert.equal(s.set("vm", "k", Buffer.from("a"), 0xffffffff), R.Ok);
    assert.equal(s.get("vm", "k")?.value.toString(), "a");
    // ... and once it exists, that cas no longer matches it.
    assert.equal(s.set("vm", "k", Buffer.from("b"), 0xffffffff), R.CasMismatch);
  });

  it("keeps vm_ids apart, and drops a vm_id's keys when its last VM goes (deleteByVmId)", () => {
    const s = new SharedDataStore();
    s.set("one", "k", Buffer.from("1"), 0);
    assert.equal(s.get("two", "k"), undefined);
    s.dropVmId("one");
    assert.deepEqual(s.keys("one"), []);
  });

  it("a value read is a copy: changing it does not change the store", () => {
    const s = new SharedDataStore();
    s.set("vm", "k", Buffer.from("abc"), 0);
    s.get("vm", "k")!.value[0] = 0x7a;
    assert.equal(s.get("vm", "k")?.value.toString(), "abc");
  });

  it("runs beforeSet inside set, before the cas is compared, as another worker's write would land", () => {
    const s = new SharedDataStore();
    s.set("vm", "k", Buffer.from("a"), 0);
    const { cas } = s.get("vm", "k")!;
    s.beforeSet = (vm, key) => { s.set(vm, key, Buffer.from("other"), 0); };
    assert.equal(s.set("vm", "k", Buffer.from("mine"), cas), R.CasMismatch);
    assert.equal(s.get("vm", "k")?.value.toString(), "other");
  });
});
