// Builds the wasm filter with `npm run build:filter`, only when its inputs change.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

/** Packages whose code ends up in, or produces, the wasm; their lockfile entries are hashed. */
const TOOLCHAIN_PACKAGES = ["assemblyscript", "@solo-io/proxy-runtime"];
const BUILD_SCRIPT = "build:filter";

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .sort();
}

interface LockPackage {
  version?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
}

// Resolves `name` as required from the package installed at `from`, the way Node walks up
// nested node_modules folders, over the lockfile's "packages" map (lockfileVersion 2 or 3).
function resolveInLock(packages: Record<string, LockPackage>, from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = `${dir === "" ? "" : `${dir}/`}node_modules/${name}`;
    if (packages[candidate] !== undefined) return candidate;
    if (dir === "") return undefined;
    const cut = dir.lastIndexOf("/node_modules/");
    dir = cut < 0 ? "" : dir.slice(0, cut);
  }
}

/**
 * The lockfile entries (version and integrity) of the filter's toolchain and everything it
 * depends on. Hashing these, rather than the whole lockfile, keeps unrelated dependency
 * updates from rebuilding the filter and restarting Envoy.
 */
export function toolchainLockEntries(lockText: string): string[] {
  const packages = (JSON.parse(lockText) as { packages?: Record<string, LockPackage> }).packages ?? {};
  const seen = new Set<string>();
  const visit = (key: string | undefined, name: string) => {
    if (key === undefined) throw new Error(`package-lock.json has no entry for ${name}; run npm install`);
    if (seen.has(key)) return;
    seen.add(key);
    for (const dep of Object.keys(packages[key].dependencies ?? {})) visit(resolveInLock(packages, key, dep), dep);
  };
  for (const name of TOOLCHAIN_PACKAGES) visit(resolveInLock(packages, "", name), name);
  return [...seen].sort().map((key) => `${key}@${packages[key].version}#${packages[key].integrity ?? ""}`);
}

/**
 * A hash of everything the wasm is built from: filter/assembly/**, filter/asconfig.json, the
 * build script in package.json and the toolchain's lockfile entries. Paths are part of the
 * hash, so renaming or adding a source file counts as a change.
 */
export function filterSourceHash(root: string): string {
  const hash = crypto.createHash("sha256");
  const add = (label: string, content: string | Buffer) => {
    hash.update(`${label}\0${content.length}\0`);
    hash.update(content);
  };
  const sources = [...filesUnder(path.join(root, "filter", "assembly")), path.join(root, "filter", "asconfig.json")];
  for (const file of sources) add(path.relative(root, file).split(path.sep).join("/"), fs.readFileSync(file));
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
    scripts?: Record<string, string>;
  };
  add(`package.json#scripts.${BUILD_SCRIPT}`, pkg.scripts?.[BUILD_SCRIPT] ?? "");
  const lock = fs.readFileSync(path.join(root, "package-lock.json"), "utf8");
  add("package-lock.json#toolchain", toolchainLockEntries(lock).join("\n"));
  return hash.digest("hex");
}

export interface FilterBuildArgs {
  /** Repository root: where package.json and filter/ are. */
  root: string;
  /** filterSourceHash(root); a change replaces the build, which runs it again. */
  sourceHash: string;
  /** Resources the build waits for (the stack builds after the MCP server is healthy). */
  after?: pulumi.Resource[];
}

export class FilterBuild extends pulumi.ComponentResource {
  /** Completes once filter/build/mcp_filter.wasm has been built from the current sources. */
  public readonly build: command.local.Command;
  public readonly sourceHash: string;

  constructor(name: string, args: FilterBuildArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-envoy-wasm:infra:FilterBuild", name, {}, opts);
    this.sourceHash = args.sourceHash;
    // The filter compiles on the machine running `pulumi up` (AssemblyScript from
    // node_modules); only the .wasm goes into the Envoy container.
    this.build = new command.local.Command(
      `${name}-build`,
      {
        create: `npm run ${BUILD_SCRIPT}`,
        dir: args.root,
        triggers: [args.sourceHash],
      },
      { parent: this, dependsOn: args.after },
    );
    this.registerOutputs({ build: this.build });
  }
}
