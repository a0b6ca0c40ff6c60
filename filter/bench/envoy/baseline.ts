// The filter as it was at an earlier commit, built from git for a side-by-side run: a change to
// the filter is judged by its cost in Envoy against the code before it, measured in the same run
// (`--baseline REF`), so the machine's drift between two runs does not enter the comparison.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT } from "./configs";

/** The commit a ref names in this checkout. */
export function commitOf(ref: string): string {
  return execFileSync("git", ["-C", ROOT, "rev-parse", "--verify", `${ref}^{commit}`], { encoding: "utf8" }).trim();
}

/** Builds filter/assembly at `ref` (any name git accepts) into `dir` and returns the wasm's path.
 *  The sources and the build script come from `git archive`, so the working tree is not touched
 *  and the filter is built as it was at `ref` (`npm run build:filter`); the build uses this
 *  checkout's node_modules. */
export function buildBaselineWasm(ref: string, dir: string): string {
  const commit = commitOf(ref);
  const src = path.join(dir, `baseline-${commit.slice(0, 12)}`);
  fs.mkdirSync(src, { recursive: true });
  const tar = execFileSync("git", ["-C", ROOT, "archive", "--format=tar", commit, "package.json", "filter/assembly", "filter/asconfig.json"], { maxBuffer: 64 << 20 });
  execFileSync("tar", ["-x", "-C", src], { input: tar });
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(src, "node_modules"));
  execFileSync("npm", ["run", "--silent", "build:filter"], { cwd: src, stdio: ["ignore", "ignore", "inherit"] });
  const wasm = path.join(src, "filter", "build", "mcp_filter.wasm");
  if (!fs.existsSync(wasm)) throw new Error(`building the filter at ${ref} (${commit}) produced no ${wasm}`);
  return wasm;
}
