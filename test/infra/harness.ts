// Runs the Pulumi program under mocks (no CLI, no Docker) and records what it registers:
// each resource's inputs as the provider would see them, the request as the engine would
// see it (secret markers, dependencies, options) and the resulting URN.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { createStack } from "../../infra/stack";

export const PROJECT = "mcp-envoy-wasm";
const REPO_ROOT = path.resolve(__dirname, "..", "..");

// What the mocked secrets generator prints. Test-only values: any appearance of them
// outside a secret marker in a registered resource is a leak.
export const FAKE_SECRETS = {
  credsKey: "a".repeat(64),
  credsIv: "b".repeat(32),
  jwtSecret: "c".repeat(64),
  jwtRefreshSecret: "d".repeat(64),
  meiliMasterKey: "e".repeat(64),
  postgresPassword: "f".repeat(48),
  gatewayKey: "0123456789abcdef".repeat(4),
  grafanaAdminPassword: "5a".repeat(24),
};

export interface Registration {
  type: string;
  name: string;
  custom: boolean;
  urn: string;
  /** Inputs as the provider receives them (secrets unwrapped). */
  inputs: Record<string, any>;
  /** The request body as the engine receives it, secret markers included. */
  wire: Record<string, unknown>;
  dependencies: string[];
  propertyDependencies: Record<string, string[]>;
  deleteBeforeReplace: boolean;
  ignoreChanges: string[];
  additionalSecretOutputs: string[];
}

export interface Run {
  registrations: Registration[];
  stack: ReturnType<typeof createStack>;
  get(name: string): Registration;
  find(name: string): Registration | undefined;
}

/** Pulumi.yaml's config defaults, as the CLI hands them to the program (strings, JSON for the rest). */
export function pulumiYamlDefaults(): Record<string, string> {
  const project = parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8")) as {
    config: Record<string, { default: unknown }>;
  };
  return Object.fromEntries(
    Object.entries(project.config).map(([key, decl]) => [
      `${PROJECT}:${key}`,
      typeof decl.default === "string" ? decl.default : JSON.stringify(decl.default),
    ]),
  );
}

/** The image id the mocked RemoteImage for `ref` reports. */
export function mockImageId(ref: string): string {
  return `sha256:${crypto.createHash("sha256").update(ref).digest("hex")}`;
}

function mockState(args: pulumi.runtime.MockResourceArgs): Record<string, any> {
  const inputs = args.inputs as Record<string, any>;
  switch (args.type) {
    case "docker:index/remoteImage:RemoteImage":
      return { ...inputs, imageId: mockImageId(String(inputs.name)) };
    case "command:local:Command":
      // The secrets generator is the command run by node; the filter build prints nothing useful.
      return { ...inputs, stdout: inputs.interpreter?.[0] === "node" ? JSON.stringify(FAKE_SECRETS) : "", stderr: "" };
    default:
      return inputs;
  }
}

// The registrations of the run in progress, by type and name.
let recording = new Map<string, Partial<Registration>>();
const key = (type: string, name: string) => `${type}::${name}`;

const mocks: pulumi.runtime.Mocks = {
  newResource: (args) => {
    const entry = recording.get(key(args.type, args.name));
    // Mocks receive secret values wrapped in markers; assertions want the plain values.
    if (entry) entry.inputs = unwrapSecrets(args.inputs) as Record<string, any>;
    return { id: `${args.name}-id`, state: mockState(args) };
  },
  call: (args) => args.inputs,
};

export interface RunOptions {
  /** Config overrides by key without the project prefix, as strings. */
  config?: Record<string, string>;
  /** Keys (without prefix) set as secrets, like `pulumi config set --secret`. */
  secretKeys?: string[];
  /** Repository root the program reads; a temporary copy in replacement tests. */
  root?: string;
}

/** Installs the mocks and the stack config (Pulumi.yaml defaults plus overrides). */
export async function prepareMocks(options: RunOptions = {}): Promise<void> {
  await pulumi.runtime.setMocks(mocks, PROJECT, "dev", false);
  const full = (k: string) => `${PROJECT}:${k}`;
  const overrides = Object.fromEntries(Object.entries(options.config ?? {}).map(([k, v]) => [full(k), v]));
  pulumi.runtime.setAllConfig({ ...pulumiYamlDefaults(), ...overrides }, (options.secretKeys ?? []).map(full));
}

export async function runStack(options: RunOptions = {}): Promise<Run> {
  await prepareMocks(options);
  const byKey = new Map<string, Partial<Registration>>();
  recording = byKey;
  // Mocks see inputs but not dependencies; the engine-facing request carries both.
  const monitor = pulumi.runtime.getMonitor() as any;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: (err: unknown, resp: any) => void) => {
    const entry: Partial<Registration> = {
      type: req.getType(),
      name: req.getName(),
      custom: req.getCustom(),
      wire: req.getObject()?.toJavaScript() ?? {},
      dependencies: req.getDependenciesList(),
      propertyDependencies: Object.fromEntries(
        [...req.getPropertydependenciesMap().entries()].map(([k, v]: [string, any]) => [k, v.getUrnsList()]),
      ),
      deleteBeforeReplace: req.getDeletebeforereplace(),
      ignoreChanges: req.getIgnorechangesList(),
      additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
    };
    byKey.set(key(entry.type!, entry.name!), entry);
    register(req, (err: unknown, resp: any) => {
      if (resp) entry.urn = resp.getUrn();
      callback(err, resp);
    });
  };
  const stack = createStack({ root: options.root ?? REPO_ROOT });
  // Waits until every registration, including those waiting on outputs, has finished.
  await pulumi.runtime.disconnect();
  const registrations = [...byKey.values()].filter((r) => !r.type!.startsWith("pulumi:providers:")) as Registration[];
  const find = (name: string) => registrations.find((r) => r.name === name);
  const get = (name: string) => {
    const r = find(name);
    if (!r) throw new Error(`no resource named ${name}; have ${registrations.map((x) => x.name).join(", ")}`);
    return r;
  };
  return { registrations, stack, get, find };
}

/** The value an Output settles to. */
export function settled<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export function isSecretMarker(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

function unwrapSecrets(v: unknown): unknown {
  if (isSecretMarker(v)) return unwrapSecrets(v.value);
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
  }
  return v;
}

/** Every string in a wire object that is not inside a secret marker. */
export function plainStrings(v: unknown): string[] {
  if (isSecretMarker(v)) return [];
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.flatMap(plainStrings);
  if (typeof v === "object" && v !== null) return Object.values(v).flatMap(plainStrings);
  return [];
}

/** Env entries of a container's wire object, each with whether it travels as a secret. */
export function wireEnv(reg: Registration): { entry: string; secret: boolean }[] {
  const envs = reg.wire.envs;
  const list = isSecretMarker(envs) ? (envs.value as unknown[]).map((e) => ({ e, outer: true })) :
    ((envs ?? []) as unknown[]).map((e) => ({ e, outer: false }));
  return list.map(({ e, outer }) =>
    isSecretMarker(e) ? { entry: String(e.value), secret: true } : { entry: String(e), secret: outer },
  );
}

/** Copies what the program reads into a temporary repository root. */
export function copyProject(): string {
  const dest = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-envoy-wasm-"));
  const copy = (rel: string) => fs.cpSync(path.join(REPO_ROOT, rel), path.join(dest, rel), { recursive: true });
  ["package.json", "package-lock.json", "filter/asconfig.json", "filter/assembly", "envoy/envoy.yaml",
    "librechat/librechat.yaml"].forEach(copy);
  return dest;
}
