// LibreChat's own secrets, generated once per stack and kept, encrypted, in the stack state.
//
// A local command prints fresh random values once, at creation. Its stdout is a secret
// output, so the values are encrypted in state and masked in output, and they stay stable
// across `pulumi up` runs: the command never runs again unless the resource is replaced.
// Rotating them on purpose: `pulumi up --replace <urn of librechat-secrets>` (sessions end;
// user-stored provider keys encrypted with the old CREDS_KEY can no longer be read).
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

export interface LibreChatSecrets {
  /** CREDS_KEY: 32 bytes, hex; encrypts the API keys users store in LibreChat. */
  credsKey: string;
  /** CREDS_IV: 16 bytes, hex. */
  credsIv: string;
  jwtSecret: string;
  jwtRefreshSecret: string;
  meiliMasterKey: string;
  postgresPassword: string;
}

const SIZES: Record<keyof LibreChatSecrets, number> = {
  credsKey: 32,
  credsIv: 16,
  jwtSecret: 32,
  jwtRefreshSecret: 32,
  meiliMasterKey: 32,
  postgresPassword: 24,
};

// Run as `node -e <script>`: Node is on every machine that runs this program, and passing
// the script as one argument needs no shell quoting on any OS.
export const GENERATOR_SCRIPT =
  "const c=require('crypto');const s=" +
  JSON.stringify(SIZES) +
  ";const o={};for(const k of Object.keys(s))o[k]=c.randomBytes(s[k]).toString('hex');" +
  "process.stdout.write(JSON.stringify(o));";

/** Parses and checks the generator's output; a truncated or edited state fails loudly. */
export function parseSecrets(stdout: string): LibreChatSecrets {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    throw new Error("librechat-secrets: the generated secrets are not JSON; replace the resource to regenerate them");
  }
  const out: Partial<LibreChatSecrets> = {};
  for (const [key, bytes] of Object.entries(SIZES) as [keyof LibreChatSecrets, number][]) {
    const value = parsed[key];
    if (typeof value !== "string" || !new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(value)) {
      throw new Error(`librechat-secrets: ${key} must be ${bytes * 2} hex characters; replace the resource to regenerate it`);
    }
    out[key] = value;
  }
  return out as LibreChatSecrets;
}

/** The generator resource and its parsed, secret values. */
export function generateSecrets(name: string, parent: pulumi.Resource): {
  generator: command.local.Command;
  values: pulumi.Output<LibreChatSecrets>;
} {
  const generator = new command.local.Command(
    name,
    {
      create: GENERATOR_SCRIPT,
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
  return { generator, values: pulumi.secret(generator.stdout).apply(parseSecrets) };
}
