// The commands the containers' healthchecks run, in one place. Each passes only when the
// service says in its answer that it is ready, never because something answered: the RAG API's
// /health answers 200 with {"status":"DOWN"} (rag_api#297), LibreChat answers 200 on /health and
// on any unknown path (its SPA fallback) before its start-up has finished, and the MCP server's
// CORS layer answers OPTIONS on every path. test/infra/healthchecks.test.ts runs each command
// against servers that answer both ways; test/envoy/admin.test.ts runs Envoy's against Envoy.

/**
 * A Node 18+ check (global fetch): healthy only when `passes`, a JavaScript expression over the
 * status `s` and the body text `b`, is true. A throw (bad JSON) or no answer is unhealthy.
 */
export function nodeHttpCheck(url: string, passes: string): string[] {
  return [
    "node",
    "-e",
    `fetch(${JSON.stringify(url)}).then(async (r) => { const s = r.status, b = await r.text(); ` +
      `process.exit((${passes}) ? 0 : 1); }).catch(() => process.exit(1))`,
  ];
}

/**
 * LibreChat: /readyz answers 503 NOT_READY until the post-listen start-up (MCP servers, OAuth
 * reconnects, migrations) is done, then 200 OK. The body must be OK: an unknown path gets the
 * SPA page with 200.
 */
export function libreChatCheck(port: number): string[] {
  return nodeHttpCheck(`http://127.0.0.1:${port}/readyz`, "s === 200 && b === 'OK'");
}

/**
 * The MCP server: a GET on /mcp without a session reaches the Streamable HTTP transport, which
 * refuses it with a JSON-RPC error (-32000, HTTP 400) and opens no session. So the MCP route is
 * up, not only Express.
 */
export function mcpEndpointCheck(port: number): string[] {
  return nodeHttpCheck(
    `http://127.0.0.1:${port}/mcp`,
    "s === 400 && ((j) => j.jsonrpc === '2.0' && j.error.code === -32000)(JSON.parse(b))",
  );
}

/**
 * The RAG API (python:3.12-slim): healthy only on 200 with a body of exactly an object whose
 * status is UP. Its /health checks the vector database, but on failure it answers 200 with
 * [{"status":"DOWN"},503] (a Flask idiom FastAPI serialises as the body); a fixed release
 * answers 503, which urlopen raises on.
 */
export function ragApiCheck(port: number): string[] {
  const script = [
    "import json, sys, urllib.request",
    `r = urllib.request.urlopen('http://127.0.0.1:${port}/health', timeout=2)`,
    "b = json.load(r)",
    "sys.exit(0 if r.status == 200 and isinstance(b, dict) and b.get('status') == 'UP' else 1)",
  ].join("\n");
  return ["python3", "-c", script];
}

/**
 * For images with busybox wget and sh: healthy only when the body of `path` matches `pattern`
 * (an extended regular expression). wget -q prints no body on an HTTP error, so grep fails
 * then too.
 */
export function wgetBodyCheck(port: number, path: string, pattern: string): string[] {
  return ["sh", "-c", `wget -q -O - http://127.0.0.1:${port}${path} | grep -Eq '${pattern}'`];
}

/** Meilisearch (Alpine): /health answers {"status":"available"}. */
export function meilisearchCheck(port: number): string[] {
  return wgetBodyCheck(port, "/health", '"status": *"available"');
}

/** Prometheus (busybox): /-/ready answers 200 "Prometheus Server is Ready." once its storage
 *  is open and it serves queries, and 503 before. */
export function prometheusCheck(port: number): string[] {
  return wgetBodyCheck(port, "/-/ready", "is Ready");
}

/** Grafana (Alpine): /api/health answers {"database": "ok", ...} once its database is up
 *  and 503 with "failing" when it is not. */
export function grafanaCheck(port: number): string[] {
  return wgetBodyCheck(port, "/api/health", '"database": *"ok"');
}

/** MongoDB: the ping command's own ok field decides, not that mongosh could connect. */
export function mongoCheck(): string[] {
  return ["mongosh", "--quiet", "--eval", "quit(db.adminCommand('ping').ok ? 0 : 1)"];
}

/**
 * Postgres: pg_isready's exit status is the server's state (0 accepting, 1 rejecting, 2 no
 * answer). Over TCP, because the image's first-run initialisation (creating the database) runs
 * a server on the Unix socket only, which must not count as ready.
 */
export function postgresCheck(user: string, database: string): string[] {
  return ["pg_isready", "-h", "127.0.0.1", "-U", user, "-d", database];
}

/**
 * Envoy (its image has bash but no curl): HTTP/1.1 by hand to /ready on the metrics listener,
 * which passes it to the admin interface. /ready answers 200 LIVE only once the listeners and
 * the wasm VMs are up, and 503 while Envoy starts or drains.
 */
export function envoyReadyCheck(port: number): string[] {
  return [
    "bash",
    "-c",
    `exec 3<>/dev/tcp/127.0.0.1/${port} && ` +
      "printf 'GET /ready HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && " +
      "head -n 1 <&3 | grep -q ' 200 '",
  ];
}
