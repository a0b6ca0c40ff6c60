// Pulumi.yaml and Pulumi.dev.yaml: what a fresh checkout needs for `npx pulumi up`.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { CONFIG_KEYS } from "../../infra/config";

const ROOT = path.resolve(__dirname, "..", "..");
const project = parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
const devStack = parse(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8"));

// Config values that are credentials: their names say so.
const SECRET_NAME = /key|secret|password|token|passphrase/i;

describe("Pulumi.yaml", () => {
  it("runs the TypeScript program in infra/ on Node", () => {
    assert.strictEqual(project.runtime.name, "nodejs");
    assert.strictEqual(project.runtime.options.typescript, true);
    assert.match(project.main, /^infra\//);
    assert.ok(fs.existsSync(path.join(ROOT, project.main)));
    // The program runs from main's directory, so the tsconfig path is relative to it.
    const tsconfig = path.resolve(path.dirname(path.join(ROOT, project.main)), project.runtime.options.tsconfig);
    assert.strictEqual(tsconfig, path.join(ROOT, "tsconfig.json"));
  });

  it("keeps state in a local, git-ignored directory: no Pulumi account needed", () => {
    const url = new URL(project.backend.url.replace("file://./", "file:///"));
    assert.strictEqual(url.protocol, "file:");
    assert.ok(project.backend.url.startsWith("file://./.pulumi"));
    assert.strictEqual(url.searchParams.get("create_dir"), "true");
    const ignored = fs.readFileSync(path.join(ROOT, ".gitignore"), "utf8").split("\n");
    assert.ok(ignored.includes(".pulumi/"));
  });

  it("declares exactly the keys the program reads, each with a type, description and default", () => {
    assert.deepStrictEqual(Object.keys(project.config).sort(), [...CONFIG_KEYS].sort());
    for (const [key, decl] of Object.entries(project.config) as [string, Record<string, unknown>][]) {
      assert.ok(["string", "integer", "boolean", "object"].includes(decl.type as string), `${key}: type`);
      assert.ok(typeof decl.description === "string" && decl.description.length > 10, `${key}: description`);
      assert.ok("default" in decl, `${key}: default`);
    }
  });

  it("ships no credential: credential keys default to empty", () => {
    for (const [key, decl] of Object.entries(project.config) as [string, { default: unknown }][]) {
      if (SECRET_NAME.test(key)) assert.strictEqual(decl.default, "", `${key} must not have a default value`);
    }
  });
});

describe("Pulumi.dev.yaml", () => {
  it("holds no plain-text secret; any credential present is encrypted (secure:)", () => {
    const config = (devStack.config ?? {}) as Record<string, unknown>;
    for (const [key, value] of Object.entries(config)) {
      if (!SECRET_NAME.test(key)) continue;
      assert.ok(typeof value === "object" && value !== null && "secure" in value, `${key} is stored in plain text`);
    }
  });

  it("only sets keys the project declares", () => {
    for (const key of Object.keys(devStack.config ?? {})) {
      assert.ok(CONFIG_KEYS.includes(key.replace(/^mcp-envoy-wasm:/, "") as (typeof CONFIG_KEYS)[number]), key);
    }
  });
});
