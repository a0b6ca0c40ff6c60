// Each container's healthcheck command, run here against local servers that answer as the
// service does when it is ready and when it is not: a check must read the state in the answer,
// not only that something answered. The commands run as the containers run them (node, python3,
// sh with wget, pg_isready); mongosh is not installed here, so MongoDB's --eval script runs in a
// stub of mongosh's globals instead.
import * as assert from "assert";
import { execFile } from "child_process";
import * as http from "http";
import * as net from "net";
import * as vm from "vm";
import { CONTAINER_PORTS } from "../../infra/config";
import {
  envoyReadyCheck, grafanaCheck, prometheusCheck,
  libreChatCheck, mcpEndpointCheck, meilisearchCheck, mongoCheck, postgresCheck, ragApiCheck,
} from "../../infra/healthchecks";
import { startEverything } from "../e2e/harness";
import { runStack } from "./harness";

/** Runs a healthcheck command (a leading `node` is this Node) and resolves its exit code. */
function exitCode(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  return new Promise((resolve, reject) => {
    execFile(cmd === "node" ? process.execPath : cmd, args, { timeout: 15_000 }, (err) => {
      if (!err) return resolve(0);
      const code = (err as { code?: unknown }).code;
      if (typeof code === "number") return resolve(code);
      reject(err); // not started (ENOENT) or killed: a broken test, not an unhealthy service
    });
  });
}

type Answer = [status: number, body: string];

/** A server answering each path from `routes`, anything else with `otherwise`; resolves its port. */
async function serve(routes: Record<string, Answer>, otherwise: Answer = [404, "Not Found"]) {
  const server = http.createServer((req, res) => {
    const [status, body] = routes[req.url ?? ""] ?? otherwise;
    res.writeHead(status, { "content-type": body.startsWith("<") ? "text/html" : "application/json" });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return (server.address() as net.AddressInfo).port;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const servers: http.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

const SPA_PAGE = "<!DOCTYPE html><html><body>LibreChat</body></html>";

describe("LibreChat healthcheck", () => {
  it("passes once /readyz answers OK", async () => {
    assert.strictEqual(await exitCode(libreChatCheck(await serve({ "/readyz": [200, "OK"] }, [200, SPA_PAGE]))), 0);
  });

  it("fails while start-up runs (503 NOT_READY), though /health and the SPA answer 200", async () => {
    const port = await serve({ "/readyz": [503, "NOT_READY"], "/health": [200, "OK"] }, [200, SPA_PAGE]);
    assert.strictEqual(await exitCode(libreChatCheck(port)), 1);
  });

  it("fails on a 200 that is not OK (a release without /readyz serves the SPA page there)", async () => {
    assert.strictEqual(await exitCode(libreChatCheck(await serve({}, [200, SPA_PAGE]))), 1);
  });

  it("fails when nothing listens", async () => {
    assert.strictEqual(await exitCode(libreChatCheck(await closedPort())), 1);
  });
});

describe("MCP server healthcheck", () => {
  it("passes against the real server-everything, the package the stack runs", async () => {
    const everything = await startEverything();
    try {
      assert.strictEqual(await exitCode(mcpEndpointCheck(Number(new URL(everything.url).port))), 0);
    } finally {
      await everything.stop();
    }
  });

  it("fails when only Express answers: CORS 204, a 404 for /mcp, or a 200 saying DOWN", async () => {
    for (const otherwise of [[204, ""], [404, SPA_PAGE], [200, '{"status":"DOWN"}']] as Answer[]) {
      assert.strictEqual(await exitCode(mcpEndpointCheck(await serve({}, otherwise))), 1, String(otherwise));
    }
  });

  it("fails on a 400 that is not the transport's JSON-RPC answer", async () => {
    assert.strictEqual(await exitCode(mcpEndpointCheck(await serve({ "/mcp": [400, '{"error":"bad"}'] }))), 1);
  });
});

describe("RAG API healthcheck", () => {
  it("passes on 200 with status UP", async () => {
    assert.strictEqual(await exitCode(ragApiCheck(await serve({ "/health": [200, '{"status":"UP"}'] }))), 0);
  });

  it("fails on the 200 answers the RAG API gives when its database is down", async () => {
    // [{"status":"DOWN"},503] is what rag_api v0.9.0 sends (rag_api#297); the other is the form.
    for (const body of ['[{"status":"DOWN"},503]', '{"status":"DOWN"}', '{"status":"DOWN","error":"x"}']) {
      assert.strictEqual(await exitCode(ragApiCheck(await serve({ "/health": [200, body] }))), 1, body);
    }
  });

  it("fails on 503, on a body that is not JSON, and when nothing listens", async () => {
    assert.strictEqual(await exitCode(ragApiCheck(await serve({ "/health": [503, '{"status":"DOWN"}'] }))), 1);
    assert.strictEqual(await exitCode(ragApiCheck(await serve({ "/health": [200, "UP"] }))), 1);
    assert.strictEqual(await exitCode(ragApiCheck(await closedPort())), 1);
  });
});

describe("Meilisearch healthcheck", () => {
  it("passes on status available", async () => {
    assert.strictEqual(await exitCode(meilisearchCheck(await serve({ "/health": [200, '{"status":"available"}'] }))), 0);
  });

  it("fails on another status, and on an HTTP error whatever its body says", async () => {
    assert.strictEqual(await exitCode(meilisearchCheck(await serve({ "/health": [200, '{"status":"unavailable"}'] }))), 1);
    assert.strictEqual(await exitCode(meilisearchCheck(await serve({ "/health": [503, '{"status":"available"}'] }))), 1);
    assert.strictEqual(await exitCode(meilisearchCheck(await closedPort())), 1);
  });
});

describe("Prometheus healthcheck (also run against real Prometheus in test/monitoring)", () => {
  it("passes on /-/ready's 200 Ready, fails on its 503 while storage opens, and when nothing listens", async () => {
    assert.strictEqual(await exitCode(prometheusCheck(await serve({ "/-/ready": [200, "Prometheus Server is Ready.\n"] }))), 0);
    assert.strictEqual(await exitCode(prometheusCheck(await serve({ "/-/ready": [503, "Service Unavailable"] }))), 1);
    assert.strictEqual(await exitCode(prometheusCheck(await closedPort())), 1);
  });
});

describe("Grafana healthcheck", () => {
  it("passes when /api/health says the database is ok", async () => {
    const body = '{\n  "database": "ok",\n  "version": "13.2.0"\n}';
    assert.strictEqual(await exitCode(grafanaCheck(await serve({ "/api/health": [200, body] }))), 0);
  });

  it("fails when the database is failing, on an HTTP error, and when nothing listens", async () => {
    assert.strictEqual(await exitCode(grafanaCheck(await serve({ "/api/health": [503, '{"database": "failing"}'] }))), 1);
    assert.strictEqual(await exitCode(grafanaCheck(await serve({ "/api/health": [200, '{"database": "failing"}'] }))), 1);
    assert.strictEqual(await exitCode(grafanaCheck(await serve({ "/api/health": [503, '{"database": "ok"}'] }))), 1);
    assert.strictEqual(await exitCode(grafanaCheck(await closedPort())), 1);
  });
});

describe("MongoDB healthcheck (mongosh is not here: its --eval script runs in a stub)", () => {
  const script = mongoCheck()[mongoCheck().indexOf("--eval") + 1];
  const evalWith = (ping: () => unknown) => {
    let code: number | undefined;
    vm.runInNewContext(script, { db: { adminCommand: (cmd: string) => (cmd === "ping" ? ping() : undefined) },
      quit: (c: number) => { code = c; } });
    return code;
  };

  it("exits 0 only when the ping command reports ok; a failed ping throws, which mongosh exits 1 on", () => {
    assert.strictEqual(evalWith(() => ({ ok: 1 })), 0);
    assert.strictEqual(evalWith(() => ({ ok: 0, errmsg: "not primary" })), 1);
    assert.throws(() => evalWith(() => { throw new Error("connection refused"); }), /connection refused/);
  });
});

describe("Postgres healthcheck", () => {
  // No Postgres server here, so the passing case is pg_isready's documented exit status 0.
  it("fails against a listener that is not Postgres, and when nothing listens", async () => {
    const http200 = await serve({}, [200, '{"status":"UP"}']);
    for (const port of [http200, await closedPort()]) {
      const argv = [...postgresCheck("librechat", "librechat_rag"), "-p", String(port), "-t", "3"];
      assert.notStrictEqual(await exitCode(argv), 0, String(port));
    }
  });

  it("asks over TCP, so the image's socket-only first-run server does not count", () => {
    const argv = postgresCheck("librechat", "librechat_rag");
    assert.strictEqual(argv[argv.indexOf("-h") + 1], "127.0.0.1");
  });
});

describe("the stack runs these commands", () => {
  it("gives each container its check, at the container's port", async () => {
    const run = await runStack({
      config: { enableMeilisearch: "true", enableRag: "true", enableMonitoring: "true", openaiApiKey: "sk-test-123" },
      secretKeys: ["openaiApiKey"],
    });
    const tests = (name: string) => run.get(name).inputs.healthcheck.tests;
    assert.deepStrictEqual(tests("librechat-container"), ["CMD", ...libreChatCheck(CONTAINER_PORTS.librechat)]);
    assert.deepStrictEqual(tests("mcp-server-container"), ["CMD", ...mcpEndpointCheck(CONTAINER_PORTS.mcpServer)]);
    assert.deepStrictEqual(tests("librechat-rag-api"), ["CMD", ...ragApiCheck(CONTAINER_PORTS.ragApi)]);
    assert.deepStrictEqual(tests("librechat-meilisearch"), ["CMD", ...meilisearchCheck(CONTAINER_PORTS.meilisearch)]);
    assert.deepStrictEqual(tests("librechat-mongodb"), ["CMD", ...mongoCheck()]);
    assert.deepStrictEqual(tests("monitoring-prometheus"), ["CMD", ...prometheusCheck(CONTAINER_PORTS.prometheus)]);
    assert.deepStrictEqual(tests("monitoring-grafana"), ["CMD", ...grafanaCheck(CONTAINER_PORTS.grafana)]);
    // Envoy's check runs against real Envoy in test/envoy/admin.test.ts.
    assert.deepStrictEqual(tests("gateway-container"), ["CMD", ...envoyReadyCheck(CONTAINER_PORTS.envoyMetrics)]);
    const db = run.get("librechat-vectordb").inputs.envs as string[];
    const env = (key: string) => db.find((e) => e.startsWith(`${key}=`))!.slice(key.length + 1);
    assert.deepStrictEqual(tests("librechat-vectordb"), ["CMD", ...postgresCheck(env("POSTGRES_USER"), env("POSTGRES_DB"))]);
  });
});
