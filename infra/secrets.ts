// Secrets generated once per stack and kept, encrypted, in the stack state.
//
// A local command prints fresh random values once, at creation. Its stdout is a secret
// output, so the values are encrypted in state and masked in output, and they stay stable
// across `pulumi up` runs: the command never runs again unless the resource is replaced.
//
// Two generators, because the values live as long as different things:
// - LibreChat's secrets (librechat-secrets). Rotating them on purpose:
//   `pulumi up --replace <urn of librechat-secrets>` (sessions end; user-stored provider keys
//   encrypted with the old CREDS_KEY can no longer be read).
// - The gateway key (gateway-key): LibreChat sends it on every MCP request and Envoy lets in
//   only requests that carry it. Its own generator, so that rotating LibreChat's secrets leaves
//   it alone; `pulumi up --replace <urn of gateway-key>` rotates it, and replaces both Envoy and
//   LibreChat, which get the new value together.
// - Grafana's admin password (monitoring-grafana-password), with enableMonitoring. Grafana
//   keeps no volume, so each new container takes the current value; replacing the resource
//   rotates it.
// - The RAG database password (librechat-vectordb-password). Postgres takes
//   POSTGRES_PASSWORD only when it creates its data directory, so the password must live as
//   long as the vectordb volume; rotating LibreChat's secrets must not change it.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

/** Random bytes per value; each is printed as hex, twice as many characters. */
export type Sizes<K extends string> = Record<K, number>;

export const LIBRECHAT_SECRET_SIZES = {
  /** CREDS_KEY: 32 bytes, hex; encrypts the API keys users store in LibreChat. */
  credsKey: 32,
  /** CREDS_IV: 16 bytes, hex. */
  credsIv: 16,
  jwtSecret: 32,
  jwtRefreshSecret: 32,
  meiliMasterKey: 32,
};
export type LibreChatSecrets = Record<keyof typeof LIBRECHAT_SECRET_SIZES, string>;

export const POSTGRES_SECRET_SIZES = { postgresPassword: 24 };

/** The gateway key: 32 bytes, hex. */
export const GATEWAY_KEY_SIZES = { gatewayKey: 32 };
export type PostgresSecrets = Record<keyof typeof POSTGRES_SECRET_SIZES, string>;

/** Grafana's admin password: 24 bytes, hex. */
export const GRAFANA_SECRET_SIZES = { grafanaAdminPassword: 24 };

// Run as `node -e <script>`: Node is on every machine that runs this program, and passing
// the script as one argument needs no shell quoting on any OS.
export function generatorScript<K extends string>(sizes: Sizes<K>): string {
  return (
    "const c=require('crypto');const s=" +
    JSON.stringify(sizes) +
    ";const o={};for(const k of Object.keys(s))o[k]=c.randomBytes(s[k]).toString('hex');" +
    "process.stdout.write(JSON.stringify(o));"
  );
}

/** Parses and checks a generator's output; a truncated or edited state fails loudly. */
export function parseGenerated<K extends string>(name: string, sizes: Sizes<K>, stdout: string): Record<K, string> {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`${name}: the generated secrets are not JSON; replace the resource to regenerate them`);
  }
  const out: Partial<Record<K, string>> = {};
  for (const [key, bytes] of Object.entries(sizes) as [K, number][]) {
    const value = parsed[key];
    if (typeof value !== "string" || !new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(value)) {
      throw new Error(`${name}: ${key} must be ${bytes * 2} hex characters; replace the resource to regenerate it`);
    }
    out[key] = value;
  }
  return out as Record<K, string>;
}

/** The generator resource and its parsed, secret values. */
export function generateSecrets<K extends string>(name: string, sizes: Sizes<K>, parent: pulumi.Resource): {
  generator: command.local.Command;
  values: pulumi.Output<Record<K, string>>;
} {
  const generator = new command.local.Command(
    name,
    {
      create: generatorScript(sizes),
      interpreter: ["node", "-e"],
      // Never print the values, and never hand them to a later run's environment.
      logging: "none",
      addPreviousOutputInEnv: false,
    },
    {
      parent,
      additionalSecretOutputs: ["stdout"],
      // With no `update` command, any input change would run the script again and replace
      // every secret. The values must outlive edits to this file, so no input counts.
      ignoreChanges: ["create", "interpreter", "logging", "addPreviousOutputInEnv"],
    },
  );
  const values = pulumi.secret(generator.stdout).apply((stdout) => parseGenerated(name, sizes, stdout));
  return { generator, values };
}
