// The filter's counters that carry a name in their suffix (`mcp_filter_tool_calls_<tool>` on
// Envoy's /stats/prometheus), and the label each suffix becomes in Prometheus. Envoy's own output
// stays as it is (filter/README.md documents it and tests read it); Prometheus turns each such
// series into one metric with a label while scraping (metric_relabel_configs), so a panel can
// `sum by (tool)`. prometheusConfig.ts generates the rules from this table; panels.ts queries
// the names it gives.

export interface LabelledSeries {
  /** The Envoy series' prefix, up to and including the `_` before the name part. */
  prefix: string;
  /** The metric Prometheus stores them under. */
  metric: string;
  /** The label that carries the name part, as /stats/prometheus wrote it ([A-Za-z0-9_]). */
  label: string;
}

export const LABELLED_SERIES = {
  requests: { prefix: "mcp_filter_requests_", metric: "mcp_filter_requests", label: "method" },
  toolCalls: { prefix: "mcp_filter_tool_calls_", metric: "mcp_filter_tool_calls", label: "tool" },
  denied: { prefix: "mcp_filter_denied_", metric: "mcp_filter_denied", label: "rule" },
  wouldDeny: { prefix: "mcp_filter_would_deny_", metric: "mcp_filter_would_deny", label: "rule" },
  rateLimited: { prefix: "mcp_filter_rate_limited_", metric: "mcp_filter_rate_limited", label: "limit" },
  wouldRateLimit: { prefix: "mcp_filter_would_rate_limit_", metric: "mcp_filter_would_rate_limit", label: "limit" },
} satisfies Record<string, LabelledSeries>;

/** The filter's counters without a name part, as Prometheus stores them (unchanged). */
export const FILTER_COUNTERS = {
  parseErrors: "mcp_filter_parse_errors",
  invalidRequests: "mcp_filter_invalid_requests",
  oversizeBodies: "mcp_filter_oversize_bodies",
  unjudgeableBodies: "mcp_filter_unjudgeable_bodies",
} as const;
