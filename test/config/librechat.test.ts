// librechat/librechat.yaml against LibreChat's own config schema, and against the gateway.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { configSchema, Constants } from "librechat-data-provider";
import { parse } from "yaml";
import { ALIASES, CONTAINER_PORTS } from "../../infra/config";
import { gatewayKeyHeader } from "../../infra/envoyConfig";
import { GATEWAY_KEY_ENV } from "../../infra/librechat";

const ROOT = path.resolve(__dirname, "..", "..");
const raw = parse(fs.readFileSync(path.join(ROOT, "librechat", "librechat.yaml"), "utf8"));
const pulumiYaml = parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));

// Keys of `input` that the schema dropped from its output: zod objects strip unknown keys
// silently, so a misspelled option would otherwise pass validation and do nothing.
function droppedKeys(input: unknown, output: unknown, at = ""): string[] {
  if (Array.isArray(input)) {
    return input.flatMap((v, i) => droppedKeys(v, Array.isArray(output) ? output[i] : undefined, `${at}[${i}]`));
  }
  if (typeof input !== "object" || input === null) return [];
  const out = (typeof output === "object" && output !== null ? output : {}) as Record<string, unknown>;
  return Object.entries(input).flatMap(([k, v]) =>
    k in out ? droppedKeys(v, out[k], `${at}.${k}`) : [`${at}.${k}`],
  );
}

describe("librechat/librechat.yaml", () => {
  const result = configSchema.safeParse(raw);

  it("passes librechat-data-provider's configSchema", () => {
    assert.ok(result.success, result.success ? "" : JSON.stringify(result.error.issues, null, 2));
  });

  it("has no key the schema ignores", () => {
    assert.ok(result.success);
    assert.deepStrictEqual(droppedKeys(raw, result.data), []);
    // The check itself catches a misspelled option.
    const typo = { ...raw, mcpSetings: raw.mcpSettings };
    const parsed = configSchema.safeParse(typo);
    assert.ok(parsed.success);
    assert.deepStrictEqual(droppedKeys(typo, parsed.data), [".mcpSetings"]);
  });

  it("uses the config version the schema package expects", () => {
    assert.strictEqual(raw.version, Constants.CONFIG_VERSION);
  });

  it("connects one MCP server, over streamable HTTP, through Envoy", () => {
    const servers = Object.values(raw.mcpServers) as { type: string; url: string }[];
    assert.strictEqual(servers.length, 1);
    assert.strictEqual(servers[0].type, "streamable-http");
    assert.strictEqual(servers[0].url, `http://${ALIASES.envoy}:${CONTAINER_PORTS.gateway}/mcp`);
  });

  it("sends the LibreChat user id in the header the policy reads", () => {
    const server = Object.values(raw.mcpServers)[0] as { headers: Record<string, string> };
    const userHeader = pulumiYaml.config.policy.default.userHeader as string;
    const sent = Object.entries(server.headers).filter(([name]) => name.toLowerCase() === userHeader);
    assert.deepStrictEqual(sent.map(([, value]) => value), ["{{LIBRECHAT_USER_ID}}"]);
  });

  it("sends the gateway key in the header Envoy checks, from the variable the stack sets", () => {
    const server = Object.values(raw.mcpServers)[0] as { headers: Record<string, string> };
    const keyHeader = gatewayKeyHeader(fs.readFileSync(path.join(ROOT, "envoy", "envoy.yaml"), "utf8"));
    const sent = Object.entries(server.headers).filter(([name]) => name.toLowerCase() === keyHeader);
    // LibreChat replaces ${VAR} in an admin-configured server's headers with its environment.
    assert.deepStrictEqual(sent.map(([, value]) => value), [`\${${GATEWAY_KEY_ENV}}`]);
  });

  it("allows the gateway's MCP listener only: its scheme, host and port", () => {
    // LibreChat matches an MCP server's origin against each entry; an entry without a port
    // admits every port of its host, so the port must be in the entry.
    const server = Object.values(raw.mcpServers)[0] as { url: string };
    const gateway = `http://${ALIASES.envoy}:${CONTAINER_PORTS.gateway}`;
    assert.deepStrictEqual(raw.mcpSettings.allowedDomains, [gateway]);
    assert.strictEqual(new URL(server.url).origin, gateway);
  });

  it("does not allow Envoy's other ports", () => {
    const metrics = `http://${ALIASES.envoy}:${CONTAINER_PORTS.envoyMetrics}`;
    const allowed = raw.mcpSettings.allowedDomains as string[];
    assert.ok(allowed.every((entry) => /:\d+$/.test(entry)), `an entry without a port admits ${metrics}`);
    assert.ok(!allowed.includes(metrics));
  });

  it("lets users use the configured MCP server but not add their own", () => {
    assert.ok(result.success);
    // The parsed block replaces LibreChat's default ({use: true, create: true}) whole.
    assert.deepStrictEqual(result.data.interface?.mcpServers, { use: true, create: false });
    // Without the block, the schema's default lets every user add servers with any headers.
    const { interface: _dropped, ...without } = raw;
    const defaults = configSchema.safeParse(without);
    assert.ok(defaults.success);
    assert.strictEqual(defaults.data.interface?.mcpServers?.create, true);
  });

  it("keeps the SSE stream open as long as Envoy does", () => {
    const server = Object.values(raw.mcpServers)[0] as { sseReadTimeout: number };
    assert.ok(server.sseReadTimeout >= 3600 * 1000);
  });

  it("is checked by a schema that can fail: the wrong transport name is rejected", () => {
    const server = Object.values(raw.mcpServers)[0] as object;
    const wrong = { ...raw, mcpServers: { everything: { ...server, type: "streamableHttp" } } };
    assert.strictEqual(configSchema.safeParse(wrong).success, false);
  });
});

describe("librechat/.env.template", () => {
  const lines = fs.readFileSync(path.join(ROOT, "librechat", ".env.template"), "utf8").split("\n");
  const vars = new Map(
    lines.filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );

  it("holds no secret: generated secrets are blank and provider keys are user_provided", () => {
    for (const name of ["CREDS_KEY", "CREDS_IV", "JWT_SECRET", "JWT_REFRESH_SECRET", "MEILI_MASTER_KEY"]) {
      assert.strictEqual(vars.get(name), "", `${name} must be blank in the template`);
    }
    for (const name of ["GOOGLE_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"]) {
      assert.strictEqual(vars.get(name), "user_provided");
    }
  });
});
