// The Envoy configurations the bench compares, and the upstream they all send to.
// B is the stack's envoy.yaml exactly as `pulumi up` renders it with Pulumi.yaml's default
// policy, made local by localEnvoyConfig (only the wasm path and the addresses change). A and C
// are that same document with only the HCM's http_filters replaced, so the listener, the HCM
// settings (timeouts, path normalisation, access log, local reply mappers) and the cluster are
// the same in all three, and only the filter differs.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse, parseDocument } from "yaml";
import { localEnvoyConfig, pluginConfigurationPath, renderEnvoyConfig, type HostPort } from "../../../infra/envoyConfig";
import { writeEmptyWasm, writeFloorWasm } from "./floor";

export const ROOT = path.join(__dirname, "..", "..", "..");
export const ENVOY_YAML = path.join(ROOT, "envoy", "envoy.yaml");
export const WASM_PATH = path.join(ROOT, "filter", "build", "mcp_filter.wasm");
/** A tools/list answer recorded from server-everything 2026.8.31 (the stack's MCP server), as it
 *  sends it: one SSE event, 13 tools, get-env and gzip-file-as-resource among them. */
export const TOOLS_LIST_SSE = path.join(__dirname, "tools-list.sse");
/** The bench measures the built filter; building it here would take a minute of a bench's
 *  three, so it only refuses a build older than the filter's sources. */
export function checkWasmIsFresh(): void {
  if (!fs.existsSync(WASM_PATH)) throw new Error(`${WASM_PATH} is missing: run npm run build:filter`);
  const built = fs.statSync(WASM_PATH).mtimeMs;
  const sources = path.join(path.dirname(WASM_PATH), "..", "assembly");
  const newer = fs.readdirSync(sources, { recursive: true, encoding: "utf8" })
    .filter((f) => fs.statSync(path.join(sources, f)).mtimeMs > built);
  if (newer.length > 0) throw new Error(`${WASM_PATH} is older than ${newer.join(", ")}: run npm run build:filter`);
}

/** The gateway key the bench's Envoys are rendered with, new each run; checks.ts sends it. */
export const BENCH_GATEWAY_KEY = randomBytes(24).toString("hex");
/** The listener every configuration under test names (envoy.yaml's). */
export const LISTENER = "mcp_listener";
const UPSTREAM_LISTENER = "upstream";

export const CONFIGS = ["A", "B", "C"] as const;
/** A, B and C: the configurations every run compares. */
export type ComparedConfig = (typeof CONFIGS)[number];
/** B0, with `--baseline REF`: B's configuration with the filter built at REF. F, the floor
 *  (floor.ts): B's configuration with a wasm module that makes B's host calls and nothing else;
 *  E, with one that makes none. R: B with rate limits in its policy (rateLimitedPolicy). */
export type ConfigName = ComparedConfig | "B0" | "E" | "F" | "R";
export const CONFIG_TITLES: Record<ConfigName, string> = {
  A: "passthrough (router only)",
  B: "mcp_filter (wasm, default policy)",
  C: "native envoy.filters.http.mcp + RBAC",
  B0: "mcp_filter built at the baseline commit (wasm, default policy)",
  E: "empty: a wasm module with B's callbacks that only continue (small call only)",
  F: "floor: a wasm module that makes B's host calls for the small call and nothing else (small call only)",
  R: "mcp_filter, the default policy with a per-user rate limit the bench never exhausts (small call only)",
};
/** B, B0 and R: the configurations that run this project's filter. */
export const runsTheFilter = (k: ConfigName): boolean => k === "B" || k === "B0" || k === "R";

/** The users R's check sends as (a new one each check), whom the second limit allows one call an
 *  hour each. */
export const RATE_CHECK_USERS = "bench-rate-check-*";
/** The limit that counts them. */
export const RATE_CHECK_LIMIT = "bench-rate-check";
/** The limit R's measured calls spend from. */
export const BENCH_LIMIT = "bench-calls-per-user";

/**
 * R's policy: the default policy and two limits. Every measured call (one user, `x-user-id:
 * user-1`) takes a token from `bench-calls-per-user`, a bucket of a million a second it never
 * empties, so each request pays a limit check in shared data (read, compare-and-swap) and none is
 * refused. The second limit counts RATE_CHECK_USERS only: the measured calls pay its user match and
 * nothing else, and checks.ts shows with it that R's limits are in force.
 */
export function rateLimitedPolicy(): Record<string, unknown> {
  return {
    ...defaultPolicy(),
    limits: [
      { name: BENCH_LIMIT, key: "user", maxTokens: 1000000, tokensPerFill: 1000000, fillInterval: "1s" },
      { name: RATE_CHECK_LIMIT, key: "user", users: [RATE_CHECK_USERS], maxTokens: 1, fillInterval: "1h" },
    ],
  };
}

/** Requests carrying this header get the recorded tools/list answer from the upstream. */
export const ANSWER_HEADER = "x-bench-answer";
export const TOOLS_LIST_ANSWER = "tools-list";

/** The stack's default policy: Pulumi.yaml's `policy` default, as the Pulumi CLI hands it over. */
export function defaultPolicy(): Record<string, unknown> {
  const project = parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { config: Record<string, { default?: unknown }> };
  const policy = project.config.policy?.default;
  if (typeof policy !== "object" || policy === null) throw new Error("Pulumi.yaml declares no object default for policy");
  return policy as Record<string, unknown>;
}

const ROUTER = {
  name: "envoy.filters.http.router",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
};

/** The tool names the default policy denies, as RBAC metadata matchers on params.name. A glob
 *  with one trailing `*` is a prefix; RBAC has no other glob, so any other shape is refused. */
function toolMatchers(policy: Record<string, unknown>): unknown[] {
  const rules = (policy.rules ?? []) as Array<{ action?: string; tools?: string[]; methods?: unknown; users?: unknown }>;
  const out: unknown[] = [];
  for (const rule of rules) {
    if (rule.action !== "deny" || rule.tools === undefined) continue;
    if (rule.methods !== undefined || rule.users !== undefined) throw new Error("the bench maps only tool-only deny rules to RBAC");
    for (const glob of rule.tools) {
      const prefix = /^[^*?\\]*\*$/.test(glob);
      if (!prefix && /[*?\\]/.test(glob)) throw new Error(`tool glob ${glob} has no RBAC equivalent`);
      const match = prefix ? { prefix: glob.slice(0, -1) } : { exact: glob };
      out.push({ metadata: { filter: "envoy.filters.http.mcp", path: [{ key: "params" }, { key: "name" }], value: { string_match: match } } });
    }
  }
  if (out.length === 0) throw new Error("the default policy denies no tools: C would have nothing to deny");
  return out;
}

/**
 * C's filters: Envoy's native MCP filter writes method and params.name of the JSON-RPC body into
 * dynamic metadata (namespace envoy.filters.http.mcp, keys method, id, params), and RBAC denies a
 * tools/call whose params.name the policy denies. Settings, from the filter's proto and source:
 * - max_request_body_size: the native default is 8 KiB, beyond which it judges only the first
 *   8 KiB and lets the rest through unseen (PASS_THROUGH). The policy's maxBodyBytes makes it read
 *   the same bodies B reads whole.
 * - traffic_mode REJECT_NO_MCP: a POST that is not JSON-RPC is refused, as B refuses a body it
 *   cannot judge (unjudgeableBody reject).
 * - early_terminate_when_routable stays off (its default): with it, the filter would stop reading
 *   at params.name and a later duplicate "name" (last one wins, for the server and for both
 *   filters) would pass unjudged.
 */
function nativeFilters(policy: Record<string, unknown>): unknown[] {
  return [
    {
      name: "envoy.filters.http.mcp",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.mcp.v3.Mcp",
        traffic_mode: "REJECT_NO_MCP",
        max_request_body_size: Number(policy.maxBodyBytes ?? 1048576),
      },
    },
    {
      name: "envoy.filters.http.rbac",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
        rules: {
          action: "DENY",
          policies: {
            "deny-risky-tools": {
              permissions: [{
                and_rules: {
                  rules: [
                    { metadata: { filter: "envoy.filters.http.mcp", path: [{ key: "method" }], value: { string_match: { exact: "tools/call" } } } },
                    { or_rules: { rules: toolMatchers(policy) } },
                  ],
                },
              }],
              principals: [{ any: true }],
            },
          },
        },
      },
    },
    ROUTER,
  ];
}

/** The three configurations under test, each with its own admin and listener on a free port. */
export function proxyConfigs(upstream: HostPort, wasmPath = WASM_PATH, policy = defaultPolicy()): Record<ComparedConfig, string> {
  const b = localEnvoyConfig(renderEnvoyConfig(fs.readFileSync(ENVOY_YAML, "utf8"), policy, BENCH_GATEWAY_KEY), {
    wasmPath,
    listen: { host: "127.0.0.1", port: 0 },
    upstream,
    admin: { host: "127.0.0.1", port: 0 },
  });
  // Every configuration keeps the stack's gateway key check (api_key_auth, before the filter):
  // it is part of the deployed path, so A is the stack without a policy filter, and only the
  // policy filter differs between A, B and C.
  const withFilters = (filters: unknown[]): string => {
    const doc = parseDocument(b);
    const bootstrap = doc.toJS();
    const configPath = pluginConfigurationPath(bootstrap);
    const httpFilters = configPath.slice(0, configPath.indexOf("http_filters") + 1);
    const keyCheck = doc.getIn([...httpFilters, 0]);
    doc.setIn(httpFilters, doc.createNode(filters));
    (doc.getIn(httpFilters) as { items: unknown[] }).items.unshift(keyCheck);
    return doc.toString({ indentSeq: false, lineWidth: 0 });
  };
  return { A: withFilters([ROUTER]), B: b, C: withFilters(nativeFilters(policy)) };
}

/** Every configuration but the baseline B0; E's and F's modules are written into `dir`. */
export function benchConfigs(upstream: HostPort, dir: string): Record<Exclude<ConfigName, "B0">, string> {
  return {
    ...proxyConfigs(upstream),
    E: proxyConfigs(upstream, writeEmptyWasm(dir)).B,
    F: proxyConfigs(upstream, writeFloorWasm(dir)).B,
    R: proxyConfigs(upstream, WASM_PATH, rateLimitedPolicy()).B,
  };
}

/** A tools/call answer as server-everything frames it (SSE, one event). */
export const CALL_ANSWER_SSE =
  'event: message\nid: 8d915cb0-7495-437f-8763-7e2b20a9ac5a\ndata: {"result":{"content":[{"type":"text","text":"The sum of 1 and 2 is 3."}]},"jsonrpc":"2.0","id":42}\n\n';

/**
 * The upstream: a second Envoy that answers every request itself (direct_response), so the MCP
 * server's own cost is not measured. It is a process of its own, so that the CPU time read from
 * the proxy's /proc/<pid>/stat is the proxy's alone: in one process the upstream's share would
 * be counted in every configuration alike and dilute the differences. It reads each request body
 * whole before answering (buffer filter), as a server does, so the proxy's upstream connection is
 * never cut mid-body.
 */
export function upstreamConfig(): string {
  const sse = [{ header: { key: "content-type", value: "text/event-stream" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }];
  const answer = (body: string) => ({ status: 200, body: { inline_string: body } });
  return JSON.stringify({
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
    static_resources: {
      listeners: [{
        name: UPSTREAM_LISTENER,
        address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
        per_connection_buffer_limit_bytes: 4194304,
        filter_chains: [{
          filters: [{
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: "upstream",
              route_config: {
                // The recorded tools/list answer is above the 4 KiB default.
                max_direct_response_body_size_bytes: 65536,
                virtual_hosts: [{
                  name: "answers",
                  domains: ["*"],
                  routes: [
                    { match: { prefix: "/", headers: [{ name: ANSWER_HEADER, string_match: { exact: TOOLS_LIST_ANSWER } }] },
                      direct_response: answer(fs.readFileSync(TOOLS_LIST_SSE, "utf8")), response_headers_to_add: sse },
                    { match: { prefix: "/" }, direct_response: answer(CALL_ANSWER_SSE), response_headers_to_add: sse },
                  ],
                }],
              },
              http_filters: [
                { name: "envoy.filters.http.buffer", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer", max_request_bytes: 4194304 } },
                ROUTER,
              ],
            },
          }],
        }],
      }],
    },
  });
}

export { UPSTREAM_LISTENER };
