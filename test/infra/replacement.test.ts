// What a change replaces. Pulumi replaces a resource when its inputs change (the docker
// provider recreates containers on any input change), or when an input depends on a resource
// that is replaced. So: run the program twice, before and after a change, and compare each
// resource's inputs and property dependencies.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { copyProject, Registration, Run, runStack } from "./harness";

function changedResources(before: Run, after: Run): string[] {
  const inputsOf = (r: Registration) => JSON.stringify(r.inputs);
  assert.deepStrictEqual(after.registrations.map((r) => r.name).sort(), before.registrations.map((r) => r.name).sort());
  return before.registrations.filter((r) => inputsOf(r) !== inputsOf(after.get(r.name))).map((r) => r.name).sort();
}

// Resources with an input that takes a value from `source`: replacing `source` replaces them.
function dependentsByProperty(run: Run, source: string): string[] {
  const urn = run.get(source).urn;
  return run.registrations
    .filter((r) => Object.values(r.propertyDependencies).some((urns) => urns.includes(urn)))
    .map((r) => r.name)
    .sort();
}

describe("replacement scope", () => {
  let root: string;
  let before: Run;
  beforeEach(async () => {
    root = copyProject();
    before = await runStack({ root });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it("a filter-only change rebuilds the wasm and replaces Envoy alone", async () => {
    const source = path.join(root, "filter", "assembly", "index.ts");
    fs.appendFileSync(source, "\n// a change to the filter\n");
    const after = await runStack({ root });

    assert.deepStrictEqual(changedResources(before, after), ["filter-build", "gateway-container"]);
    assert.notDeepStrictEqual(after.get("filter-build").inputs.triggers, before.get("filter-build").inputs.triggers);
    const wasm = (r: Run) => r.get("gateway-container").inputs.uploads[1];
    assert.notStrictEqual(wasm(after).sourceHash, wasm(before).sourceHash);

    // Nothing takes an input from the build or from Envoy, so neither replacement spreads:
    // LibreChat and MongoDB only wait for Envoy (dependsOn) and keep running.
    assert.deepStrictEqual(dependentsByProperty(after, "filter-build"), []);
    assert.deepStrictEqual(dependentsByProperty(after, "gateway-container"), []);
    // The new Envoy is created after the new build, so it uploads the new wasm.
    assert.ok(after.get("gateway-container").dependencies.includes(after.get("filter-build").urn));
  });

  it("a policy change replaces Envoy alone, without rebuilding the filter", async () => {
    const after = await runStack({
      root,
      config: { policy: JSON.stringify({ defaultAction: "deny", rules: [{ action: "allow", tools: ["echo"] }] }) },
    });
    assert.deepStrictEqual(changedResources(before, after), ["gateway-container"]);
  });

  it("a change outside the filter's sources (its host emulator, README) changes nothing", async () => {
    fs.mkdirSync(path.join(root, "filter", "host"), { recursive: true });
    fs.writeFileSync(path.join(root, "filter", "host", "emulator.ts"), "export {};\n");
    fs.writeFileSync(path.join(root, "filter", "README.md"), "# notes\n");
    const after = await runStack({ root });
    assert.deepStrictEqual(changedResources(before, after), []);
  });

  it("rotating LibreChat's secrets leaves the RAG database and its password alone", async () => {
    // `pulumi up --replace <urn of librechat-secrets>`: Postgres keeps the password it was
    // created with in its volume, so a new POSTGRES_PASSWORD would lock the RAG API out.
    const rag = await runStack({
      root,
      config: { enableRag: "true", openaiApiKey: "sk-test-123" },
      secretKeys: ["openaiApiKey"],
    });
    const rotated = dependentsByProperty(rag, "librechat-secrets");
    assert.ok(rotated.includes("librechat-container") && rotated.includes("librechat-rag-api"));
    assert.ok(!rotated.includes("librechat-vectordb"));
    assert.ok(!rotated.includes("librechat-vectordb-password"));
  });

  it("a LibreChat config change replaces LibreChat alone", async () => {
    fs.appendFileSync(path.join(root, "librechat", "librechat.yaml"), "# edited\n");
    const after = await runStack({ root });
    assert.deepStrictEqual(changedResources(before, after), ["librechat-container"]);
  });
});
