// The build trigger: the filter is rebuilt (and Envoy replaced) exactly when what the wasm
// is built from changes, and not when anything else does.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { filterSourceHash, toolchainLockEntries } from "../../infra/filterBuild";
import { copyProject } from "./harness";

type Lock = { packages: Record<string, { version?: string; integrity?: string; dependencies?: Record<string, string> }> };

describe("filter source hash (build trigger)", () => {
  let root: string;
  let baseline: string;
  beforeEach(() => {
    root = copyProject();
    baseline = filterSourceHash(root);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const file = (...p: string[]) => path.join(root, ...p);
  const editLock = (edit: (lock: Lock) => void) => {
    const lock = JSON.parse(fs.readFileSync(file("package-lock.json"), "utf8")) as Lock;
    edit(lock);
    fs.writeFileSync(file("package-lock.json"), JSON.stringify(lock, null, 2));
  };
  const editScripts = (edit: (scripts: Record<string, string>) => void) => {
    const pkg = JSON.parse(fs.readFileSync(file("package.json"), "utf8"));
    edit(pkg.scripts);
    fs.writeFileSync(file("package.json"), JSON.stringify(pkg, null, 2));
  };
  const changes = () => filterSourceHash(root) !== baseline;

  it("is the same for the same sources in another checkout", () => {
    const other = copyProject();
    try {
      assert.strictEqual(filterSourceHash(other), baseline);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  it("changes when a filter source file changes by one byte", () => {
    fs.appendFileSync(file("filter", "assembly", "index.ts"), " ");
    assert.ok(changes());
  });

  it("changes when a source file is added or renamed", () => {
    fs.writeFileSync(file("filter", "assembly", "extra.ts"), "export const x = 1;\n");
    assert.ok(changes());
    fs.rmSync(file("filter", "assembly", "extra.ts"));
    assert.ok(!changes());
    fs.renameSync(file("filter", "assembly", "index.ts"), file("filter", "assembly", "main.ts"));
    assert.ok(changes());
  });

  it("changes with the build config: asconfig.json and the build:filter script", () => {
    fs.appendFileSync(file("filter", "asconfig.json"), "\n");
    assert.ok(changes());
    fs.writeFileSync(file("filter", "asconfig.json"), fs.readFileSync(path.resolve(__dirname, "../../filter/asconfig.json")));
    assert.ok(!changes());
    editScripts((s) => (s["build:filter"] += " --debug"));
    assert.ok(changes());
  });

  it("ignores other scripts and files next to the filter sources", () => {
    editScripts((s) => (s.test = "mocha --bail"));
    fs.mkdirSync(file("filter", "host"), { recursive: true });
    fs.writeFileSync(file("filter", "host", "emulator.ts"), "export {};\n");
    fs.writeFileSync(file("filter", "README.md"), "# filter\n");
    assert.ok(!changes());
  });

  it("changes with the compiler's or the runtime's version", () => {
    editLock((l) => (l.packages["node_modules/assemblyscript"].version = "0.17.15"));
    assert.ok(changes());
    const compilerChanged = filterSourceHash(root);
    editLock((l) => (l.packages["node_modules/@solo-io/proxy-runtime"].version = "0.1.9"));
    assert.notStrictEqual(filterSourceHash(root), compilerChanged);
  });

  it("changes when a transitive toolchain package changes (binaryen)", () => {
    editLock((l) => (l.packages["node_modules/binaryen"].integrity = "sha512-changed"));
    assert.ok(changes());
  });

  it("ignores lockfile changes to packages the filter is not built with", () => {
    editLock((l) => (l.packages["node_modules/mocha"].version = "99.0.0"));
    assert.ok(!changes());
  });

  it("follows dependencies the way Node resolves them, nested copies first", () => {
    const lock = {
      packages: {
        "node_modules/assemblyscript": { version: "0.17.14", dependencies: { long: "^4.0.0" } },
        "node_modules/assemblyscript/node_modules/long": { version: "4.0.0" },
        "node_modules/long": { version: "5.3.2" },
        "node_modules/@solo-io/proxy-runtime": { version: "0.1.8" },
        "node_modules/mocha": { version: "11.8.0" },
      },
    };
    assert.deepStrictEqual(toolchainLockEntries(JSON.stringify(lock)), [
      "node_modules/@solo-io/proxy-runtime@0.1.8#",
      "node_modules/assemblyscript@0.17.14#",
      "node_modules/assemblyscript/node_modules/long@4.0.0#",
    ]);
  });

  it("fails loudly when the lockfile lacks the toolchain", () => {
    editLock((l) => delete l.packages["node_modules/assemblyscript"]);
    assert.throws(() => filterSourceHash(root), /no entry for assemblyscript; run npm install/);
  });
});
