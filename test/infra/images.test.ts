// The images the stack deploys: their references live in Pulumi.yaml only, none is in the
// namespace LibreChat left, and the LibreChat release is the one whose config schema the tests
// check librechat/librechat.yaml against.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { Constants } from "librechat-data-provider";
import { PROJECT, pulumiYamlDefaults } from "./harness";

const ROOT = path.resolve(__dirname, "..", "..");

// LibreChat and its RAG API moved from danny-avila to the LibreChat-AI organisation in September
// 2026; releases since then are pushed under librechat-ai only. Written as a pattern so that
// this file does not name the old namespace itself.
const OLD_NAMESPACE = /\b(ghcr\.io|registry\.librechat\.ai)\/danny-avila\//i;

/** The project's files as a checkout has them: everything but .git and what .gitignore lists. */
function projectFiles(): string[] {
  const ignored = fs.readFileSync(path.join(ROOT, ".gitignore"), "utf8").split("\n").map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  // As git reads them: `name/` matches directories only, `*.ext` any file ending so, and a
  // pattern with no inner slash matches at any depth.
  const skip = (rel: string, isDir: boolean) => rel === ".git" || ignored.some((pattern) => {
    if (pattern.startsWith("*")) return rel.endsWith(pattern.slice(1));
    if (pattern.endsWith("/") && !isDir) return false;
    const name = pattern.replace(/\/$/, "");
    return name.includes("/") ? rel === name : path.basename(rel) === name;
  });
  const walk = (rel: string): string[] => fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })
    .flatMap((entry) => {
      const child = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (skip(child, entry.isDirectory())) return [];
      return entry.isDirectory() ? walk(child) : entry.isFile() ? [child] : [];
    });
  return walk("");
}

const files = projectFiles();
const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), "utf8");
const defaults = pulumiYamlDefaults();
const image = (key: string) => defaults[`${PROJECT}:${key}`];

describe("images", () => {
  it("reads the project's files, and the old-namespace pattern catches any spelling of it", () => {
    for (const rel of ["Pulumi.yaml", "infra/config.ts", "README.md", "librechat/librechat.yaml"]) {
      assert.ok(files.includes(rel), rel);
    }
    assert.ok(!files.some((rel) => rel.startsWith("node_modules/") || rel.startsWith("envoy/.venv/")));
    for (const ref of ["ghcr.io/" + "danny-avila/librechat:v0.8.7", "image: GHCR.io/" + "Danny-Avila/x:1",
      "registry.librechat.ai/" + "danny-avila/librechat-rag-api-dev-lite:latest"]) {
      assert.match(ref, OLD_NAMESPACE);
    }
    assert.doesNotMatch("ghcr.io/librechat-ai/librechat:v9.9.9", OLD_NAMESPACE);
  });

  it("names no image in the namespace LibreChat moved away from, in any file", () => {
    const hits = files.filter((rel) => OLD_NAMESPACE.test(read(rel)));
    assert.deepStrictEqual(hits, []);
  });

  it("keeps the LibreChat and monitoring images' references in Pulumi.yaml only", () => {
    for (const key of ["librechatImage", "ragApiImage", "meilisearchImage", "pgvectorImage", "mongoImage", "prometheusImage", "grafanaImage"]) {
      // A digest stands for the image wherever it is written; otherwise the name with its tag.
      const ref = image(key).includes("@sha256:") ? image(key).split("@")[1] : image(key);
      const elsewhere = files.filter((rel) => rel !== "Pulumi.yaml" && read(rel).includes(ref));
      assert.deepStrictEqual(elsewhere, [], `${key} (${ref}) is also written in ${elsewhere.join(", ")}`);
    }
  });

  it("deploys the LibreChat release whose config schema the tests check librechat.yaml against", () => {
    const [repository, tag] = image("librechatImage").split(":");
    assert.strictEqual(repository, "ghcr.io/librechat-ai/librechat");
    // The installed librechat-data-provider was built from this release or one of its candidates.
    const built = Constants.VERSION as string;
    assert.ok(built === tag || built.startsWith(`${tag}-rc`), `data-provider is from ${built}, the image is ${tag}`);
  });
});
