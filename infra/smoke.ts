// `npm run smoke`: proves a running stack works the way LibreChat uses it, step by step. By
// default it reads the stack's outputs (`npx pulumi stack output --show-secrets`); --endpoint,
// --metrics, --key and --librechat override them, and --no-librechat skips LibreChat's check.
import { execFileSync } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";

/** The header LibreChat sends the gateway key in (librechat/librechat.yaml). */
export const GATEWAY_KEY_HEADER = "x-mcp-gateway-key";
const SMOKE_USER = "smoke-test";
const TIMEOUT_MS = 30_000;

export interface SmokeTarget {
  /** The MCP endpoint, e.g. http://localhost:10000/mcp */
  endpoint: string;
  /** Envoy's /stats/prometheus on the metrics listener. */
  metrics: string;
  /** The gateway key. */
  key: string;
  /** LibreChat's base URL; undefined skips its check. */
  librechat?: string;
}

class StepFailed extends Error {}

/** A named check; throws StepFailed (or anything) with what was wrong. */
interface Step { name: string; run(): Promise<string | void> }

function fail(what: string): never {
  throw new StepFailed(what);
}

function mcpHeaders(key: string): Record<string, string> {
  return { [GATEWAY_KEY_HEADER]: key, "x-user-id": SMOKE_USER };
}

/** The filter's counters on /stats/prometheus, summed by series name prefix. */
async function counters(metricsUrl: string): Promise<Map<string, number>> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (res.status !== 200) fail(`${metricsUrl} answered HTTP ${res.status}`);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    const m = /^(mcp_filter_[A-Za-z0-9_]+)(?:\{[^}]*\})? (\d+(?:\.\d+)?)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

const sumOf = (c: Map<string, number>, prefix: string) =>
  [...c].filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);

function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ text?: string }> }).content ?? [];
  return content.map((c) => c.text ?? "").join("");
}

export function smokeSteps(t: SmokeTarget): Step[] {
  let client: Client | undefined;
  let before = new Map<string, number>();
  const connected = (): Client => client ?? fail("no MCP session (the first step failed)");
  const steps: Step[] = [
    {
      name: "the MCP SDK client initializes through Envoy with the gateway key",
      async run() {
        before = await counters(t.metrics);
        const transport = new StreamableHTTPClientTransport(new URL(t.endpoint), { requestInit: { headers: mcpHeaders(t.key) } });
        client = new Client({ name: "mcp-envoy-wasm-smoke", version: "1.0.0" });
        try {
          await client.connect(transport, { timeout: TIMEOUT_MS });
        } catch (err) {
          // The SDK's message carries the body; the status says more (401: the key is wrong).
          if (err instanceof StreamableHTTPError) fail(`HTTP ${err.code}: ${err.message}`);
          throw err;
        }
        return `session ${transport.sessionId ?? "(none)"}`;
      },
    },
    {
      name: "tools/list hides the denied tools",
      async run() {
        const names = (await connected().listTools()).tools.map((x) => x.name);
        if (!names.includes("get-sum")) fail(`get-sum is not listed; the list: ${names.join(", ")}`);
        const leaked = names.filter((n) => n === "get-env" || n.startsWith("gzip-"));
        if (leaked.length > 0) fail(`${leaked.join(", ")} listed: the policy should hide it (the default policy denies get-env and gzip-*)`);
        return `${names.length} tools, get-env and gzip-* hidden`;
      },
    },
    {
      name: "get-sum of 7 and 3 is 10",
      async run() {
        const text = textOf(await connected().callTool({ name: "get-sum", arguments: { a: 7, b: 3 } }));
        if (!/\b10\b/.test(text)) fail(`the answer was ${JSON.stringify(text)}`);
      },
    },
    {
      name: "get-env is denied with a JSON-RPC error",
      async run() {
        try {
          const result = await connected().callTool({ name: "get-env", arguments: {} });
          fail(`get-env ran: ${JSON.stringify(result).slice(0, 200)}`);
        } catch (err) {
          if (err instanceof StepFailed) throw err;
          if (!(err instanceof McpError)) fail(`expected a JSON-RPC error, got ${String(err)}`);
          return `error ${err.code}: ${err.message}`;
        }
      },
    },
    {
      name: "a request without the gateway key is refused",
      async run() {
        const res = await fetch(t.endpoint, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "x-user-id": SMOKE_USER },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        const body = await res.text();
        if (res.status !== 401) fail(`HTTP ${res.status}, not 401: ${body.slice(0, 200)}`);
        const error = (JSON.parse(body) as { error?: { code?: number } }).error;
        if (typeof error?.code !== "number") fail(`the refusal is not a JSON-RPC error: ${body.slice(0, 200)}`);
        return `HTTP 401, JSON-RPC error ${error.code}`;
      },
    },
    {
      name: "the metrics listener counts the calls just made",
      async run() {
        const after = await counters(t.metrics);
        const delta = (prefix: string) => sumOf(after, prefix) - sumOf(before, prefix);
        const want: Array<[string, string]> = [
          ["mcp_filter_requests_initialize", "initialize"], ["mcp_filter_requests_tools_list", "tools/list"],
          ["mcp_filter_tool_calls_get_sum", "get-sum call"], ["mcp_filter_tool_calls_get_env", "get-env call"],
          ["mcp_filter_denied_", "denial"],
        ];
        const missing = want.filter(([prefix]) => delta(prefix) < 1).map(([, what]) => what);
        if (missing.length > 0) fail(`${t.metrics} did not count: ${missing.join(", ")}`);
        return want.map(([prefix, what]) => `${what} +${delta(prefix)}`).join(", ");
      },
    },
  ];
  if (t.librechat !== undefined) {
    const health = `${t.librechat.replace(/\/$/, "")}/health`;
    steps.push({
      name: "LibreChat's /health answers",
      async run() {
        const res = await fetch(health, { signal: AbortSignal.timeout(TIMEOUT_MS) });
        if (res.status !== 200) fail(`${health} answered HTTP ${res.status}`);
      },
    });
  }
  steps.push({ name: "close the MCP session", async run() { await client?.close(); } });
  return steps;
}

/** Runs every step, printing a line each; resolves false at the first that fails. */
export async function runSmoke(t: SmokeTarget, print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<boolean> {
  const steps = smokeSteps(t);
  for (const [i, step] of steps.entries()) {
    const n = `${i + 1}/${steps.length}`;
    try {
      const detail = await step.run();
      print(`ok   ${n} ${step.name}${detail ? ` (${detail})` : ""}`);
    } catch (err) {
      print(`FAIL ${n} ${step.name}: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }
  return true;
}

const USAGE = "usage: npm run smoke [-- --endpoint URL --metrics URL --key KEY --librechat URL | --no-librechat]";

/** The stack's outputs, as `pulumi stack output` prints them (secrets shown). */
function stackOutputs(): Record<string, string> {
  try {
    const json = execFileSync("npx", ["pulumi", "stack", "output", "--json", "--show-secrets"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return JSON.parse(json) as Record<string, string>;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? (err as Error).message;
    throw new Error(`cannot read the stack's outputs with \`npx pulumi stack output --show-secrets\` (export PULUMI_CONFIG_PASSPHRASE, ` +
      `or give --endpoint, --metrics and --key):\n${stderr.trim()}`);
  }
}

export function parseSmokeArgs(argv: string[], outputs: () => Record<string, string>): SmokeTarget {
  const flags = new Map<string, string>();
  let librechat = true;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--no-librechat") { librechat = false; continue; }
    if (!["--endpoint", "--metrics", "--key", "--librechat"].includes(arg)) throw new Error(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
    const value = argv[++i];
    if (value === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
    flags.set(arg, value);
  }
  const needOutputs = ["--endpoint", "--metrics", "--key"].some((f) => !flags.has(f)) || (librechat && !flags.has("--librechat"));
  const out = needOutputs ? outputs() : {};
  const pick = (flag: string, output: string): string => {
    const value = flags.get(flag) ?? out[output];
    if (typeof value !== "string" || value === "") throw new Error(`no ${flag}: the stack has no output ${output}; give ${flag}`);
    return value;
  };
  return {
    endpoint: pick("--endpoint", "mcpEndpoint"),
    metrics: pick("--metrics", "envoyMetricsUrl"),
    key: pick("--key", "gatewayKey"),
    librechat: librechat ? pick("--librechat", "librechatUrl") : undefined,
  };
}

if (require.main === module) {
  let target: SmokeTarget;
  try {
    target = parseSmokeArgs(process.argv.slice(2), stackOutputs);
  } catch (err) {
    process.stderr.write(`smoke: ${(err as Error).message}\n`);
    process.exit(2);
  }
  runSmoke(target).then((ok) => process.exit(ok ? 0 : 1), (err: unknown) => {
    process.stderr.write(`smoke: ${String(err)}\n`);
    process.exit(1);
  });
}
