// Envoy runs every plugin that names the same vm_id and code in one VM, each plugin with its
// own root context and configuration (proxy-wasm-cpp-host keys root contexts by plugin). The
// emulator runs one plugin per VM, so this test drives the module's exports directly: two roots
// with different user headers, their streams interleaved. Each stream must be judged with its
// own root's settings, whatever the stream before it used.
import * as assert from "node:assert/strict";
import { BareVm } from "./bare-vm";
import { call } from "./helpers";

const RULES = [{ name: "no-echo-for-mallory", action: "deny", tools: ["echo"], users: ["mallory"] }];
const CONFIGS = [
  JSON.stringify({ defaultAction: "allow", userHeader: "x-user-id", rules: RULES }),
  JSON.stringify({ defaultAction: "allow", userHeader: "x-librechat-user", rules: RULES }),
];

describe("filter: several plugin roots in one VM", () => {
  it("judges each stream with its own root's user header, streams interleaved", () => {
    const vm = new BareVm(CONFIGS);
    const echo = call("echo", 1);
    for (let round = 0; round < 3; round++) {
      assert.equal(vm.post(1, [["x-user-id", "mallory"]], echo), false, "root 1 reads x-user-id: mallory is denied");
      assert.equal(vm.post(2, [["x-user-id", "mallory"]], echo), true, "root 2 ignores x-user-id");
      assert.equal(vm.post(2, [["x-librechat-user", "mallory"]], echo), false, "root 2 reads x-librechat-user");
      assert.equal(vm.post(1, [["x-librechat-user", "mallory"], ["x-user-id", "bob"]], echo), true, "root 1 ignores x-librechat-user");
    }
    assert.deepEqual(vm.critical, []);
  });

  it("refuses the streams of a root that refused its configuration, and ends them without a trap", () => {
    // Envoy would not start such a plugin; if a stream reaches it anyway, it must fail closed
    // and leave the VM working for the other root.
    const vm = new BareVm([CONFIGS[0], JSON.stringify({ defaultAction: "bogus" })], [2]);
    const echo = call("echo", 1);
    for (let round = 0; round < 3; round++) {
      assert.equal(vm.post(2, [["x-user-id", "bob"]], echo), false, "a stream of the refused root is answered by the filter");
      assert.equal(vm.replied, true);
      assert.equal(vm.post(1, [["x-user-id", "bob"]], echo), true, "the configured root still serves its streams");
    }
  });
});
