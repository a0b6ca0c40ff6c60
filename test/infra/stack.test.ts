// The resource graph `pulumi up` would create, checked under Pulumi mocks.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { ALIASES, CONTAINER_PATHS, CONTAINER_PORTS } from "../../infra/config";
import { ENVOY_LOG_FLUSH_MS, pluginConfigurationOf } from "../../infra/envoyConfig";
import { filterSourceHash } from "../../infra/filterBuild";
import * as pulumi from "@pulumi/pulumi";
import {
  FAKE_SECRETS, isSecretMarker, mockImageId, plainStrings, prepareMocks, pulumiYamlDefaults, Registration, Run, runStack, settled, wireEnv,
} from "./harness";

const ROOT = path.resolve(__dirname, "..", "..");
const PREFIX = "mcp-envoy-wasm-dev";
const defaults = pulumiYamlDefaults();
const image = (key: string) => defaults[`mcp-envoy-wasm:${key}`];

const CONTAINER = "docker:index/container:Container";
const BASE_RESOURCES = [
  ["docker:index/network:Network", "network"],
  ["docker:index/network:Network", "mcp-network"],
  ["mcp-envoy-wasm:infra:McpServer", "mcp-server"],
  ["docker:index/remoteImage:RemoteImage", "mcp-server-image"],
  [CONTAINER, "mcp-server-container"],
  ["mcp-envoy-wasm:infra:FilterBuild", "filter"],
  ["command:local:Command", "filter-build"],
  ["mcp-envoy-wasm:infra:Gateway", "gateway"],
  ["docker:index/remoteImage:RemoteImage", "gateway-image"],
  ["command:local:Command", "gateway-key"],
  [CONTAINER, "gateway-container"],
  ["mcp-envoy-wasm:infra:LibreChat", "librechat"],
  ["command:local:Command", "librechat-secrets"],
  ["docker:index/volume:Volume", "librechat-mongodb-data"],
  ["docker:index/remoteImage:RemoteImage", "librechat-mongodb-image"],
  [CONTAINER, "librechat-mongodb"],
  ["docker:index/volume:Volume", "librechat-uploads"],
  ["docker:index/volume:Volume", "librechat-images"],
  ["docker:index/remoteImage:RemoteImage", "librechat-image"],
  [CONTAINER, "librechat-container"],
];
const OPTIONAL_RESOURCES = [
  ["docker:index/volume:Volume", "librechat-meilisearch-data"],
  ["docker:index/remoteImage:RemoteImage", "librechat-meilisearch-image"],
  [CONTAINER, "librechat-meilisearch"],
  ["command:local:Command", "librechat-vectordb-password"],
  ["docker:index/volume:Volume", "librechat-vectordb-data"],
  ["docker:index/remoteImage:RemoteImage", "librechat-vectordb-image"],
  [CONTAINER, "librechat-vectordb"],
  ["docker:index/remoteImage:RemoteImage", "librechat-rag-api-image"],
  [CONTAINER, "librechat-rag-api"],
];

const sorted = (pairs: string[][]) => pairs.map(([t, n]) => `${t} ${n}`).sort();
const envNames = (reg: Registration) => reg.inputs.envs.map((e: string) => e.slice(0, e.indexOf("=")));

// The reference of the stack's RemoteImage a container runs (by the image id it was given).
function imageOf(run: Run, container: string): string {
  const id = run.get(container).inputs.image;
  const img = run.registrations.find((r) => r.type === "docker:index/remoteImage:RemoteImage" && mockImageId(r.inputs.name) === id);
  assert.ok(img, `${container} does not run one of the stack's RemoteImages`);
  return img.inputs.name;
}

describe("stack under mocks (default config)", () => {
  let run: Run;
  before(async () => {
    run = await runStack();
  });
  const urnOf = (name: string) => run.get(name).urn;

  it("registers exactly the expected resources", () => {
    assert.deepStrictEqual(sorted(run.registrations.map((r) => [r.type, r.name])), sorted(BASE_RESOURCES));
  });

  it("nests each group's resources under its component, named after it", () => {
    for (const [component, type] of [["mcp-server", "McpServer"], ["filter", "FilterBuild"], ["gateway", "Gateway"],
      ["librechat", "LibreChat"]]) {
      const children = run.registrations.filter((r) => r.name.startsWith(`${component}-`));
      assert.ok(children.length > 0);
      for (const child of children) assert.match(child.urn, new RegExp(`::mcp-envoy-wasm:infra:${type}\\$`));
    }
  });

  it("runs every container from a pinned RemoteImage, none from latest", () => {
    assert.strictEqual(imageOf(run, "mcp-server-container"), image("nodeImage"));
    assert.strictEqual(imageOf(run, "gateway-container"), image("envoyImage"));
    assert.strictEqual(imageOf(run, "librechat-mongodb"), image("mongoImage"));
    assert.strictEqual(imageOf(run, "librechat-container"), image("librechatImage"));
    for (const r of run.registrations.filter((x) => x.type === "docker:index/remoteImage:RemoteImage")) {
      assert.match(r.inputs.name, /:[\w.-]+$/);
      assert.doesNotMatch(r.inputs.name, /:latest$/);
    }
  });

  it("puts every container on the stack network under its alias, and the MCP server apart", () => {
    const aliases: Record<string, string> = {
      "librechat-mongodb": ALIASES.mongodb,
      "librechat-container": ALIASES.librechat,
    };
    assert.strictEqual(run.get("network").inputs.name, PREFIX);
    assert.strictEqual(run.get("mcp-network").inputs.name, `${PREFIX}-mcp`);
    for (const [name, alias] of Object.entries(aliases)) {
      assert.deepStrictEqual(run.get(name).inputs.networksAdvanced, [{ name: PREFIX, aliases: [alias] }]);
    }
    // The MCP server runs code npx fetches: it shares a network with Envoy only, never with
    // MongoDB (no auth) or LibreChat. Envoy joins both, to be reached and to reach it.
    assert.deepStrictEqual(run.get("mcp-server-container").inputs.networksAdvanced,
      [{ name: `${PREFIX}-mcp`, aliases: [ALIASES.mcpServer] }]);
    assert.deepStrictEqual(run.get("gateway-container").inputs.networksAdvanced,
      [{ name: PREFIX, aliases: [ALIASES.envoy] }, { name: `${PREFIX}-mcp` }]);
  });

  it("keeps every container but Envoy off the MCP server's network, optional services included", async () => {
    const full = await runStack({
      config: { enableMeilisearch: "true", enableRag: "true", openaiApiKey: "sk-test-123" },
      secretKeys: ["openaiApiKey"],
    });
    const onMcpNetwork = full.registrations
      .filter((r) => r.type === CONTAINER && r.inputs.networksAdvanced.some((n: { name: string }) => n.name === `${PREFIX}-mcp`))
      .map((r) => r.name).sort();
    assert.deepStrictEqual(onMcpNetwork, ["gateway-container", "mcp-server-container"]);
  });

  it("publishes only LibreChat and Envoy, all on 127.0.0.1 by default, and never Envoy's admin", () => {
    assert.strictEqual(run.get("mcp-server-container").inputs.ports, undefined);
    assert.strictEqual(run.get("librechat-mongodb").inputs.ports, undefined);
    assert.deepStrictEqual(run.get("gateway-container").inputs.ports, [
      { internal: CONTAINER_PORTS.gateway, external: 10000, ip: "127.0.0.1" },
      { internal: CONTAINER_PORTS.envoyMetrics, external: 9902, ip: "127.0.0.1" },
    ]);
    assert.deepStrictEqual(run.get("librechat-container").inputs.ports, [
      { internal: CONTAINER_PORTS.librechat, external: 3080, ip: "127.0.0.1" },
    ]);
  });

  it("uploads envoy.yaml with the policy and the built wasm, hashed by its sources", () => {
    const [config, wasm] = run.get("gateway-container").inputs.uploads;
    assert.strictEqual(config.file, CONTAINER_PATHS.envoyConfig);
    const policy = JSON.parse(defaults["mcp-envoy-wasm:policy"]);
    assert.deepStrictEqual(JSON.parse(pluginConfigurationOf(config.content)), policy);
    assert.deepStrictEqual(wasm, {
      file: CONTAINER_PATHS.wasm,
      source: path.join(ROOT, "filter", "build", "mcp_filter.wasm"),
      sourceHash: filterSourceHash(ROOT),
    });
    assert.deepStrictEqual(run.get("filter-build").inputs.triggers, [filterSourceHash(ROOT)]);
    assert.strictEqual(run.get("filter-build").inputs.create, "npm run build:filter");
  });

  it("uploads librechat.yaml where LibreChat reads it", () => {
    const [upload] = run.get("librechat-container").inputs.uploads;
    assert.strictEqual(upload.file, CONTAINER_PATHS.librechatConfig);
    assert.strictEqual(upload.content, fs.readFileSync(path.join(ROOT, "librechat", "librechat.yaml"), "utf8"));
  });

  it("keeps Mongo and LibreChat files in named volumes", () => {
    assert.deepStrictEqual(run.get("librechat-mongodb").inputs.volumes, [
      { volumeName: `${PREFIX}-mongodb`, containerPath: "/data/db" },
    ]);
    assert.deepStrictEqual(run.get("librechat-container").inputs.volumes.map((v: { containerPath: string }) => v.containerPath),
      ["/app/uploads", "/app/client/public/images"]);
  });

  it("runs Envoy with its log written out in batches to the container's stderr, as the tests run it", () => {
    assert.deepStrictEqual(run.get("gateway-container").inputs.command,
      ["envoy", "-c", CONTAINER_PATHS.envoyConfig, "--log-path", "/dev/stderr", "--file-flush-interval-msec", String(ENVOY_LOG_FLUSH_MS)]);
  });

  it("runs the MCP server pinned, on its port, with nothing secret in its environment", () => {
    const mcp = run.get("mcp-server-container");
    assert.deepStrictEqual(mcp.inputs.command, ["npx", "-y", image("mcpServerPackage"), "streamableHttp"]);
    assert.ok(mcp.inputs.envs.includes(`PORT=${CONTAINER_PORTS.mcpServer}`));
    assert.ok(wireEnv(mcp).every((e) => !e.secret), "the get-env tool would reveal any secret here");
  });

  it("gives LibreChat its database, config path, URLs and user_provided keys", () => {
    const env: string[] = run.get("librechat-container").inputs.envs;
    for (const entry of [
      `MONGO_URI=mongodb://${ALIASES.mongodb}:${CONTAINER_PORTS.mongodb}/LibreChat`, "HOST=0.0.0.0",
      `PORT=${CONTAINER_PORTS.librechat}`, `CONFIG_PATH=${CONTAINER_PATHS.librechatConfig}`,
      "DOMAIN_CLIENT=http://localhost:3080", "SEARCH=false", "GOOGLE_KEY=user_provided",
      "OPENAI_API_KEY=user_provided", "ANTHROPIC_API_KEY=user_provided", `CREDS_KEY=${FAKE_SECRETS.credsKey}`,
    ]) {
      assert.ok(env.includes(entry), `missing ${entry}`);
    }
  });

  it("sends LibreChat's secrets and provider keys as secrets, and nowhere in plain text", () => {
    const secretEnv = wireEnv(run.get("librechat-container")).filter((e) => e.secret).map((e) => e.entry.split("=")[0]);
    assert.deepStrictEqual(secretEnv.sort(), ["ANTHROPIC_API_KEY", "CREDS_IV", "CREDS_KEY", "GOOGLE_KEY", "JWT_REFRESH_SECRET",
      "JWT_SECRET", "MCP_GATEWAY_KEY", "OPENAI_API_KEY"]);
    const leaked = run.registrations.flatMap((r) => plainStrings(r.wire).filter((s) =>
      Object.values(FAKE_SECRETS).some((secret) => s.includes(secret))).map((s) => `${r.name}: ${s}`));
    assert.deepStrictEqual(leaked, []);
  });

  it("generates the secrets once, unlogged, with stdout kept secret", async () => {
    const rag = await runStack({ config: { enableRag: "true", openaiApiKey: "sk-test-123" }, secretKeys: ["openaiApiKey"] });
    for (const secrets of [run.get("librechat-secrets"), run.get("gateway-key"), rag.get("librechat-vectordb-password")]) {
      assert.deepStrictEqual(secrets.inputs.interpreter, ["node", "-e"], secrets.name);
      assert.strictEqual(secrets.inputs.logging, "none", secrets.name);
      assert.deepStrictEqual(secrets.additionalSecretOutputs, ["stdout"], secrets.name);
      assert.deepStrictEqual(secrets.ignoreChanges.sort(), ["addPreviousOutputInEnv", "create", "interpreter", "logging"]);
      assert.strictEqual(secrets.inputs.triggers, undefined, secrets.name);
    }
  });

  it("gives Envoy and LibreChat the one generated gateway key, only ever as a secret", async () => {
    const key = FAKE_SECRETS.gatewayKey;
    // Envoy: the rendered envoy.yaml holds the key as api_key_auth's credential, so the whole
    // upload travels as a secret.
    const gateway = run.get("gateway-container");
    const uploads = gateway.wire.uploads;
    const config = isSecretMarker(uploads) ? (uploads.value as unknown[])[0] : (uploads as unknown[])[0];
    const content = (config as Record<string, unknown>).content;
    assert.ok(isSecretMarker(uploads) || isSecretMarker(content), "envoy.yaml is uploaded as a secret");
    const rendered = parse(gateway.inputs.uploads[0].content);
    const keyCheck = rendered.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0];
    assert.strictEqual(keyCheck.name, "envoy.filters.http.api_key_auth");
    assert.deepStrictEqual(keyCheck.typed_config.credentials, [{ key, client: "librechat" }]);
    // LibreChat: the same key, as a secret variable that librechat.yaml reads.
    assert.deepStrictEqual(wireEnv(run.get("librechat-container")).find((e) => e.entry.startsWith("MCP_GATEWAY_KEY=")),
      { entry: `MCP_GATEWAY_KEY=${key}`, secret: true });
    // The user's copy, for curl and npm run smoke: a secret output.
    assert.strictEqual(await settled(run.stack.outputs.gatewayKey), key);
    assert.strictEqual(await pulumi.isSecret(run.stack.outputs.gatewayKey), true);
  });

  it("health-checks every container and waits for it, replacing it delete-first", () => {
    for (const c of run.registrations.filter((r) => r.type === CONTAINER)) {
      const hc = c.inputs.healthcheck;
      assert.strictEqual(hc.tests[0], "CMD", c.name);
      assert.ok(hc.tests.length > 1 && hc.startPeriod, c.name);
      assert.strictEqual(c.inputs.wait, true, c.name);
      assert.ok(c.inputs.waitTimeout >= 60, c.name);
      assert.strictEqual(c.inputs.restart, "unless-stopped", c.name);
      assert.strictEqual(c.deleteBeforeReplace, true, c.name);
    }
  });

  it("names the containers after the stack, for `docker logs`", () => {
    const names = Object.fromEntries(run.registrations.filter((r) => r.type === CONTAINER).map((r) => [r.name, r.inputs.name]));
    assert.deepStrictEqual(names, {
      "mcp-server-container": `${PREFIX}-mcp-server`,
      "gateway-container": `${PREFIX}-envoy`,
      "librechat-mongodb": `${PREFIX}-mongodb`,
      "librechat-container": `${PREFIX}-librechat`,
    });
  });

  it("creates in order: networks, MCP server, wasm build, Envoy, MongoDB, LibreChat", () => {
    const order = ["mcp-network", "mcp-server-container", "filter-build", "gateway-container", "librechat-mongodb",
      "librechat-container"];
    for (let i = 1; i < order.length; i++) {
      const deps = run.get(order[i]).dependencies;
      assert.ok(deps.includes(urnOf(order[i - 1])), `${order[i]} does not depend on ${order[i - 1]}`);
    }
    assert.ok(run.get("gateway-container").dependencies.includes(urnOf("mcp-server-container")));
    for (const name of ["gateway-container", "librechat-mongodb", "librechat-container"]) {
      assert.ok(run.get(name).dependencies.includes(urnOf("network")), `${name} does not depend on network`);
    }
    assert.ok(run.get("gateway-container").dependencies.includes(urnOf("mcp-network")));
  });

  it("exports the URLs a user needs", async () => {
    const o = run.stack.outputs;
    assert.strictEqual(o.librechatUrl, "http://localhost:3080");
    assert.strictEqual(o.mcpEndpoint, "http://localhost:10000/mcp");
    assert.strictEqual(o.envoyMetricsUrl, "http://127.0.0.1:9902/stats/prometheus");
    assert.strictEqual(await settled(o.envoyContainer), `${PREFIX}-envoy`);
    assert.strictEqual(await settled(o.gatewayKey), FAKE_SECRETS.gatewayKey);
  });
});

describe("stack under mocks (options)", () => {
  it("publishes on 0.0.0.0 when asked, but keeps Envoy's metrics on 127.0.0.1", async () => {
    const run = await runStack({ config: { publishAddress: "0.0.0.0", gatewayPort: "18000", envoyMetricsPort: "19902" } });
    assert.deepStrictEqual(run.get("gateway-container").inputs.ports, [
      { internal: CONTAINER_PORTS.gateway, external: 18000, ip: "0.0.0.0" },
      { internal: CONTAINER_PORTS.envoyMetrics, external: 19902, ip: "127.0.0.1" },
    ]);
    assert.strictEqual(run.stack.outputs.mcpEndpoint, "http://localhost:18000/mcp");
    assert.strictEqual(run.stack.outputs.envoyMetricsUrl, "http://127.0.0.1:19902/stats/prometheus");
  });

  it("keeps LibreChat's login cookies usable over http on a LAN address", async () => {
    const run = await runStack({ config: { publishAddress: "192.168.1.5" } });
    const env: string[] = run.get("librechat-container").inputs.envs;
    assert.ok(env.includes("DOMAIN_SERVER=http://192.168.1.5:3080"));
    // Secure cookies, LibreChat's default for a non-localhost DOMAIN_SERVER, are dropped over http.
    assert.ok(env.includes("SESSION_COOKIE_SECURE=false"));
    for (const address of ["127.0.0.1", "0.0.0.0"]) {
      const local = await runStack({ config: { publishAddress: address } });
      assert.ok(!envNames(local.get("librechat-container")).includes("SESSION_COOKIE_SECURE"), address);
    }
  });

  it("passes a provider key set with --secret as a secret", async () => {
    const run = await runStack({ config: { openaiApiKey: "sk-test-123" }, secretKeys: ["openaiApiKey"] });
    const env = wireEnv(run.get("librechat-container")).find((e) => e.entry.startsWith("OPENAI_API_KEY="));
    assert.deepStrictEqual(env, { entry: "OPENAI_API_KEY=sk-test-123", secret: true });
    assert.ok(run.registrations.every((r) => plainStrings(r.wire).every((s) => !s.includes("sk-test-123"))));
  });

  it("adds Meilisearch and RAG only when switched on, wired into LibreChat", async () => {
    const run = await runStack({
      config: { enableMeilisearch: "true", enableRag: "true", openaiApiKey: "sk-test-123" },
      secretKeys: ["openaiApiKey"],
    });
    assert.deepStrictEqual(sorted(run.registrations.map((r) => [r.type, r.name])),
      sorted([...BASE_RESOURCES, ...OPTIONAL_RESOURCES]));
    assert.strictEqual(imageOf(run, "librechat-meilisearch"), image("meilisearchImage"));
    assert.strictEqual(imageOf(run, "librechat-vectordb"), image("pgvectorImage"));
    assert.strictEqual(imageOf(run, "librechat-rag-api"), image("ragApiImage"));
    const env: string[] = run.get("librechat-container").inputs.envs;
    for (const entry of ["SEARCH=true", `MEILI_HOST=http://${ALIASES.meilisearch}:${CONTAINER_PORTS.meilisearch}`,
      `MEILI_MASTER_KEY=${FAKE_SECRETS.meiliMasterKey}`, `RAG_API_URL=http://${ALIASES.ragApi}:${CONTAINER_PORTS.ragApi}`]) {
      assert.ok(env.includes(entry), `missing ${entry}`);
    }
    assert.ok(!env.includes("SEARCH=false"));
    const rag: string[] = run.get("librechat-rag-api").inputs.envs;
    assert.ok(rag.includes("RAG_OPENAI_API_KEY=sk-test-123") && rag.includes(`JWT_SECRET=${FAKE_SECRETS.jwtSecret}`));
    for (const name of ["librechat-vectordb", "librechat-rag-api"]) {
      const env: string[] = run.get(name).inputs.envs;
      assert.ok(env.includes(`POSTGRES_PASSWORD=${FAKE_SECRETS.postgresPassword}`), name);
      assert.ok(run.get(name).propertyDependencies.envs.includes(run.get("librechat-vectordb-password").urn), name);
    }
    const mongo = run.get("librechat-mongodb").urn;
    for (const name of ["librechat-meilisearch", "librechat-vectordb"]) assert.ok(run.get(name).dependencies.includes(mongo));
    assert.ok(run.get("librechat-rag-api").dependencies.includes(run.get("librechat-vectordb").urn));
    for (const name of ["librechat-meilisearch", "librechat-rag-api"]) {
      assert.ok(run.get("librechat-container").dependencies.includes(run.get(name).urn));
    }
    const leaked = run.registrations.flatMap((r) => plainStrings(r.wire).filter((s) =>
      [...Object.values(FAKE_SECRETS), "sk-test-123"].some((secret) => s.includes(secret))));
    assert.deepStrictEqual(leaked, []);
  });

  it("gives LibreChat exactly the variables librechat/.env.template documents", async () => {
    const full = await runStack({
      config: { enableMeilisearch: "true", enableRag: "true", openaiApiKey: "sk-test-123" },
      secretKeys: ["openaiApiKey"],
    });
    const minimal = await runStack();
    const lan = await runStack({ config: { publishAddress: "192.168.1.5" } });
    const given = new Set([full, minimal, lan].flatMap((run) => envNames(run.get("librechat-container"))));
    const template = fs.readFileSync(path.join(ROOT, "librechat", ".env.template"), "utf8")
      .split("\n").filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.slice(0, l.indexOf("=")));
    assert.deepStrictEqual([...given].sort(), [...new Set(template)].sort());
  });
});

describe("program entry (infra/index.ts)", () => {
  it("exports the stack outputs", async () => {
    // Importing the entry runs the program, exactly as `pulumi up` does, against the mocks.
    const pulumiYaml = parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
    assert.strictEqual(pulumiYaml.main, "infra/index.ts");
    await prepareMocks();
    const entry = require("../../infra/index");
    assert.deepStrictEqual(Object.keys(entry).sort(),
      ["envoyContainer", "envoyMetricsUrl", "gatewayKey", "grafanaAdminPassword", "grafanaUrl", "librechatUrl", "mcpEndpoint",
        "prometheusUrl"]);
    // Without enableMonitoring (the default) they stay undefined, which Pulumi leaves out.
    assert.strictEqual(entry.grafanaUrl, undefined);
    assert.strictEqual(entry.librechatUrl, "http://localhost:3080");
    assert.strictEqual(await settled(entry.envoyContainer as pulumi.Output<string>), "mcp-envoy-wasm-dev-envoy");
    await pulumi.runtime.disconnect();
  });
});
