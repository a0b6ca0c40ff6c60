// Config checks that stop a bad `pulumi up` before it touches Docker, and the secrets generator.
import * as assert from "assert";
import { execFileSync } from "child_process";
import { checkPinnedImage, checkPinnedPackage, checkPort, urlHost } from "../../infra/config";
import { cookieEnv } from "../../infra/librechat";
import { ragEmbeddingsEnv } from "../../infra/librechatServices";
import { checkPolicy } from "../../infra/policy";
import { generatorScript, LIBRECHAT_SECRET_SIZES, parseGenerated } from "../../infra/secrets";
import { pulumiYamlDefaults, runStack } from "./harness";

describe("config checks", () => {
  it("accept every default in Pulumi.yaml", async () => {
    const run = await runStack();
    assert.ok(run.registrations.length > 0);
    for (const [key, value] of Object.entries(pulumiYamlDefaults())) {
      if (key.endsWith("Image")) assert.strictEqual(checkPinnedImage(key, value), value);
      if (key.endsWith(":policy")) assert.deepStrictEqual(checkPolicy(JSON.parse(value)), JSON.parse(value));
    }
  });

  it("refuse images that are untagged or latest, naming the key and the fix", () => {
    for (const ref of ["envoyproxy/envoy", "envoyproxy/envoy:latest", "localhost:5000/envoy", "ghcr.io/x/y:"]) {
      assert.throws(() => checkPinnedImage("envoyImage", ref), /config envoyImage = .* is not pinned: give an explicit version tag/);
    }
    assert.strictEqual(checkPinnedImage("k", "localhost:5000/envoy:v9.9.9"), "localhost:5000/envoy:v9.9.9");
    assert.strictEqual(checkPinnedImage("k", `mongo@sha256:${"0".repeat(64)}`), `mongo@sha256:${"0".repeat(64)}`);
  });

  it("refuse an MCP server package without an exact version", () => {
    for (const spec of ["@modelcontextprotocol/server-everything", "@modelcontextprotocol/server-everything@latest",
      "@modelcontextprotocol/server-everything@^2026.8.31"]) {
      assert.throws(() => checkPinnedPackage("mcpServerPackage", spec), /must be an npm package with an exact version/);
    }
  });

  it("refuse ports outside 1..65535", () => {
    for (const port of [0, 65536, 80.5, NaN]) assert.throws(() => checkPort("gatewayPort", port), /is not a TCP port/);
    assert.strictEqual(checkPort("gatewayPort", 10000), 10000);
  });

  it("refuse a partial policy, the result of `config set --path` on an unset policy, saying how to set it whole", () => {
    assert.throws(() => checkPolicy({ mode: "monitor" }), /policy\.defaultAction: required\nSet the whole policy: copy the default from Pulumi.yaml/);
    assert.throws(() => checkPolicy("allow"), /^Error: config policy does not match filter\/policy\.schema\.json:\n {2}policy: expected an object, got "allow"$/);
    assert.throws(() => checkPolicy([]), /policy: expected an object, got \[\]/);
    const policy = { defaultAction: "deny", rules: [] };
    assert.strictEqual(checkPolicy(policy), policy);
  });

  it("refuse a policy the filter would refuse, naming every bad field with its value and the limit", () => {
    const policy = {
      defaultAction: "deny",
      maxBodyBytes: 0,
      userHeader: "Host",
      rules: [
        { name: "a-b", action: "deny", tools: ["get-env"] },
        { name: "a_b", action: "allow", users: [] },
        { action: "deny", tools: ["get-[env]"], tool: ["x"] },
      ],
    };
    const lines = (() => {
      try { checkPolicy(policy); } catch (e) { return (e as Error).message.split("\n").slice(1).map((l) => l.trim()); }
      return [];
    })();
    assert.deepStrictEqual(lines.map((l) => l.slice(0, l.indexOf(": "))).sort(), [
      "policy.maxBodyBytes", "policy.rules[1].name", "policy.rules[1].users", "policy.rules[2].tool", "policy.rules[2].tools[0]", "policy.userHeader",
    ]);
    assert.ok(lines.includes("policy.maxBodyBytes: expected an integer from 1 to 67108864, got 0"), lines.join("\n"));
    assert.ok(lines.includes('policy.rules[1].name: "a_b" clashes with "a-b" (metrics read - and . as _)'), lines.join("\n"));
    assert.ok(lines.includes("policy.rules[1].users: an empty list matches nothing; omit the field to match anything"), lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith('policy.rules[2].tools[0]: "get-[env]" is not allowed: a glob:')), lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith("policy.rules[2].tool: unknown field (fields: action, name, methods,")), lines.join("\n"));
  });

  it("stop the program on a bad policy, naming the field", async () => {
    const policy = JSON.stringify({ defaultAction: "deny", rules: [{ action: "deny", tools: [] }] });
    await assert.rejects(runStack({ config: { policy } }), /policy\.rules\[0\]\.tools: an empty list/);
  });

  it("print localhost for loopback and wildcard addresses, the address otherwise", () => {
    assert.strictEqual(urlHost("127.0.0.1"), "localhost");
    assert.strictEqual(urlHost("0.0.0.0"), "localhost");
    assert.strictEqual(urlHost("192.168.1.5"), "192.168.1.5");
  });

  it("turn LibreChat's Secure cookies off only for plain http away from localhost", () => {
    assert.deepStrictEqual(cookieEnv("http://192.168.1.5:3080"), ["SESSION_COOKIE_SECURE=false"]);
    for (const url of ["http://localhost:3080", "http://127.0.0.1:3080", "http://[::1]:3080", "https://chat.example:443"]) {
      assert.deepStrictEqual(cookieEnv(url), [], url);
    }
  });

  it("refuse RAG without an OpenAI key, saying which key to set", () => {
    assert.throws(() => ragEmbeddingsEnv("user_provided"), /pulumi config set --secret openaiApiKey/);
    assert.strictEqual(ragEmbeddingsEnv("sk-x"), "RAG_OPENAI_API_KEY=sk-x");
  });
});

describe("LibreChat secrets generator", () => {
  const generate = () => execFileSync(process.execPath, ["-e", generatorScript(LIBRECHAT_SECRET_SIZES)], { encoding: "utf8" });
  const parseSecrets = (stdout: string) => parseGenerated("librechat-secrets", LIBRECHAT_SECRET_SIZES, stdout);

  it("prints values of the lengths LibreChat requires", () => {
    const s = parseSecrets(generate());
    assert.match(s.credsKey, /^[0-9a-f]{64}$/);
    assert.match(s.credsIv, /^[0-9a-f]{32}$/);
    assert.ok(s.jwtSecret.length >= 32 && s.jwtRefreshSecret.length >= 32);
    assert.notStrictEqual(s.jwtSecret, s.jwtRefreshSecret);
  });

  it("prints fresh values on each run (they are generated, not defaults)", () => {
    assert.notStrictEqual(parseSecrets(generate()).credsKey, parseSecrets(generate()).credsKey);
  });

  it("rejects stored output that is not what it generates", () => {
    assert.throws(() => parseSecrets("not json"), /not JSON; replace the resource/);
    const good = JSON.parse(generate());
    assert.throws(() => parseSecrets(JSON.stringify({ ...good, credsIv: "abc" })), /credsIv must be 32 hex characters/);
    const { credsKey: _dropped, ...missing } = good;
    assert.throws(() => parseSecrets(JSON.stringify(missing)), /credsKey must be 64 hex characters/);
  });
});
