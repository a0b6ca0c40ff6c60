// The dashboard's panels: each one's title, what it shows, and its PromQL, stated once. The
// dashboard (dashboard.ts), the real-Prometheus test (test/monitoring) and the PNG script
// (npm run dashboard:png) all read this list, so they show and check the same queries.
import { MCP_CLUSTER } from "../envoyConfig";
import { FILTER_COUNTERS, LABELLED_SERIES } from "./series";

/** Grafana's rate window variable: four scrape intervals or the panel's step, whichever is
 *  larger. Everything outside Grafana substitutes a duration for it (withRateWindow). */
export const RATE_WINDOW = "$__rate_interval";
/** Envoy's label for the cluster envoy.yaml routes /mcp to. */
const CLUSTER = `envoy_cluster_name="${MCP_CLUSTER}"`;

export interface PanelQuery {
  refId: string;
  /** Grafana's legend template, e.g. "{{tool}}". */
  legend: string;
  expr: string;
}

export interface Panel {
  key: string;
  title: string;
  description: string;
  /** Grafana unit id. */
  unit: "reqps" | "ms" | "short";
  queries: PanelQuery[];
}

const perSecond = (metric: string, by?: string) =>
  `sum${by ? ` by (${by})` : ""} (rate(${metric}[${RATE_WINDOW}]))`;

const latency = (q: number) =>
  `histogram_quantile(${q}, sum by (le) (rate(envoy_cluster_upstream_rq_time_bucket{${CLUSTER}}[${RATE_WINDOW}])))`;

const { requests, toolCalls, denied, wouldDeny, rateLimited, wouldRateLimit } = LABELLED_SERIES;

export const PANELS: Panel[] = [
  {
    key: "requests",
    title: "MCP requests by method",
    description: "JSON-RPC messages the filter read, per second, by method (`other`: outside MCP; `client_response`: a client's answers).",
    unit: "reqps",
    queries: [{ refId: "A", legend: "{{method}}", expr: perSecond(requests.metric, requests.label) }],
  },
  {
    key: "toolCalls",
    title: "Tool calls by tool",
    description: "tools/call messages per second by tool, allowed or not (the first 100 distinct names; then `_other`).",
    unit: "reqps",
    queries: [{ refId: "A", legend: "{{tool}}", expr: perSecond(toolCalls.metric, toolCalls.label) }],
  },
  {
    key: "denials",
    title: "Denials by rule",
    description: "Messages the policy denied per second, by rule (`default`: the default action); in monitor mode, what it would have denied.",
    unit: "reqps",
    queries: [
      { refId: "A", legend: "{{rule}}", expr: perSecond(denied.metric, denied.label) },
      { refId: "B", legend: "{{rule}} (monitor mode: would deny)", expr: perSecond(wouldDeny.metric, wouldDeny.label) },
    ],
  },
  {
    key: "rateLimits",
    title: "Rate-limit refusals by limit",
    description: "tools/call messages refused over a limit per second, by limit; in monitor mode, what would have been refused.",
    unit: "reqps",
    queries: [
      { refId: "A", legend: "{{limit}}", expr: perSecond(rateLimited.metric, rateLimited.label) },
      { refId: "B", legend: "{{limit}} (monitor mode: would refuse)", expr: perSecond(wouldRateLimit.metric, wouldRateLimit.label) },
    ],
  },
  {
    key: "rejectedBodies",
    title: "Parse errors and rejected bodies",
    description: "Bodies answered with −32700 (parse errors), messages answered with −32600/−32602, bodies over maxBodyBytes, and encoded or non-JSON bodies, per second.",
    unit: "reqps",
    queries: [
      { refId: "A", legend: "parse errors", expr: perSecond(FILTER_COUNTERS.parseErrors) },
      { refId: "B", legend: "invalid requests", expr: perSecond(FILTER_COUNTERS.invalidRequests) },
      { refId: "C", legend: "oversize bodies", expr: perSecond(FILTER_COUNTERS.oversizeBodies) },
      { refId: "D", legend: "unjudgeable bodies", expr: perSecond(FILTER_COUNTERS.unjudgeableBodies) },
    ],
  },
  {
    key: "latency",
    title: "Upstream latency (MCP server)",
    description: "Time from Envoy sending a request to the MCP server to the end of its answer, from Envoy's histogram. A GET SSE stream counts when it ends.",
    unit: "ms",
    queries: [
      { refId: "A", legend: "p50", expr: latency(0.5) },
      { refId: "B", legend: "p99", expr: latency(0.99) },
    ],
  },
  {
    key: "openStreams",
    title: "Open requests and SSE streams to the MCP server (not sessions)",
    description: "Requests Envoy has open to the MCP server now, long-lived GET SSE streams included, and open requests on the MCP listener. " +
      "MCP sessions themselves are not counted: neither Envoy nor the filter sees a session end (LibreChat never sends DELETE; sessions expire on the server).",
    unit: "short",
    queries: [
      { refId: "A", legend: "to the MCP server", expr: `sum(envoy_cluster_upstream_rq_active{${CLUSTER}})` },
      { refId: "B", legend: "on the MCP listener", expr: 'sum(envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix="mcp"})' },
    ],
  },
  {
    key: "upstreamErrors",
    title: "Upstream errors",
    description: "Per second: 5xx answers to requests for the MCP server (its own, and Envoy's 503 when it could not reach it or lost it), " +
      "failed connections, requests the server dropped (connection closed or stream reset), and timeouts.",
    unit: "reqps",
    queries: [
      { refId: "A", legend: "5xx answers", expr: `sum(rate(envoy_cluster_upstream_rq_xx{${CLUSTER},envoy_response_code_class="5"}[${RATE_WINDOW}]))` },
      { refId: "B", legend: "connect failures", expr: perSecond(`envoy_cluster_upstream_cx_connect_fail{${CLUSTER}}`) },
      // Over HTTP/1.1 a server that drops a request closes its connection (cx_destroy_remote_with_active_rq);
      // over HTTP/2 it resets the stream (rq_rx_reset).
      { refId: "C", legend: "dropped by the server", expr: `sum(rate(envoy_cluster_upstream_cx_destroy_remote_with_active_rq{${CLUSTER}}[${RATE_WINDOW}])) + sum(rate(envoy_cluster_upstream_rq_rx_reset{${CLUSTER}}[${RATE_WINDOW}]))` },
      { refId: "D", legend: "timeouts", expr: `sum(rate(envoy_cluster_upstream_rq_timeout{${CLUSTER}}[${RATE_WINDOW}])) + sum(rate(envoy_cluster_upstream_rq_per_try_timeout{${CLUSTER}}[${RATE_WINDOW}]))` },
    ],
  },
];

/** A query with Grafana's rate window replaced by a Prometheus duration, e.g. "20s". */
export function withRateWindow(expr: string, window: string): string {
  return expr.split(RATE_WINDOW).join(window);
}
