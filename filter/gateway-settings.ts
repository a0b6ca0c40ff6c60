// The facts of envoy/envoy.yaml that the emulator gateway follows, read from the same rendered
// file the Envoy engine runs, so that each fact has one place: the route, path handling, buffer
// limits, the wasm plugin's settings and the local_reply_config mappers. A setting the emulator
// does not model is an error naming it, never silently another behaviour. Known but not
// applied: the timeouts (stream_idle_timeout, request_timeout, idle_timeout), the access log and
// the stat prefix.
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { MCP_CLUSTER, pluginConfigurationPath, renderEnvoyConfig } from "../infra/envoyConfig";
import type { FailurePolicy, LocalReplyMapper } from "./host";

export const ENVOY_YAML = path.join(__dirname, "..", "envoy", "envoy.yaml");

/** envoy.yaml rendered with a plugin configuration and a gateway key, as `pulumi up` renders it. */
export function renderGatewayYaml(pluginConfig: string, gatewayKey: string): string {
  return renderEnvoyConfig(fs.readFileSync(ENVOY_YAML, "utf8"), pluginConfig, gatewayKey);
}

/** envoy.filters.http.api_key_auth, as envoy.yaml configures it (one header source). */
export interface KeyAuth {
  /** The header the key is read from (its first value, as Envoy reads it). */
  header: string;
  keys: string[];
  /** forwarding.hide_credentials: the header is removed before the request goes on. */
  hideCredentials: boolean;
}

export interface GatewaySettings {
  /** The one route's match: requests whose path it does not match get the router's 404. */
  route: { kind: "path_separated_prefix" | "prefix"; value: string };
  /** The route's response_headers_to_remove, lower case. */
  responseHeadersToRemove: string[];
  normalizePath: boolean;
  mergeSlashes: boolean;
  /** path_with_escaped_slashes_action: only these two are modelled. */
  escapedSlashes: "KEEP_UNCHANGED" | "REJECT_REQUEST";
  /** HCM server_name: the server header of every response. */
  serverName: string;
  /** HCM max_request_headers_kb and common_http_protocol_options.max_headers_count: a request
   *  head over either is refused with 431. */
  maxRequestHeadersBytes: number;
  maxRequestHeaders: number;
  /** HCM delayed_close_timeout: how long a closing connection still reads before it closes. */
  delayedCloseMs: number;
  /** The listener's per_connection_buffer_limit_bytes: the most a filter may buffer. */
  bufferLimitBytes: number;
  rootId: string;
  allowOnHeadersStopIteration: boolean;
  failurePolicy: FailurePolicy;
  mapLocalReply: LocalReplyMapper;
  keyAuth: KeyAuth;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function unmodelled(where: string, what: string): Error {
  return new Error(`envoy.yaml: ${where} sets ${what}, which the emulator gateway does not model; `
    + "extend filter/gateway-settings.ts (and the differential test proves it) or run the gateway with --engine envoy");
}

/** Throws for any key of `o` outside `known`: a new setting must be modelled before it is used. */
function onlyKnown(o: Obj, known: string[], where: string): void {
  for (const key of Object.keys(o)) if (!known.includes(key)) throw unmodelled(where, key);
}

function durationMs(v: unknown, where: string): number {
  const m = /^(\d+(?:\.\d+)?)s$/.exec(String(v));
  if (!m) throw unmodelled(where, `the duration ${String(v)} (write it as seconds, e.g. 1s)`);
  return Number(m[1]) * 1000;
}

const CODE_DETAILS_PREFIX = /^response\.code_details\.startsWith\('([^'\\]*)'\)$/;

interface Mapper { matches(status: number, details: string): boolean; status?: number; body?: string; contentType?: string }

function readMapper(m: Obj, i: number): Mapper {
  const where = `local_reply_config.mappers[${i}]`;
  onlyKnown(m, ["filter", "body_format_override", "status_code"], where);
  const filter = obj(m.filter);
  let matches: Mapper["matches"];
  if (filter.status_code_filter !== undefined) {
    const cmp = obj(obj(filter.status_code_filter).comparison);
    const value = Number(obj(cmp.value).default_value);
    const op = String(cmp.op ?? "EQ");
    if (op === "EQ") matches = (s) => s === value;
    else if (op === "GE") matches = (s) => s >= value;
    else if (op === "LE") matches = (s) => s <= value;
    else throw unmodelled(where, `status_code_filter op ${op}`);
  } else if (filter.extension_filter !== undefined) {
    // The one CEL form envoy.yaml uses: the reply's details start with a prefix.
    const expression = String(obj(obj(filter.extension_filter).typed_config).expression ?? "");
    const prefix = CODE_DETAILS_PREFIX.exec(expression)?.[1];
    if (prefix === undefined) throw unmodelled(where, `the CEL expression ${JSON.stringify(expression)}`);
    matches = (_s, details) => details.startsWith(prefix);
  } else {
    throw unmodelled(where, `the filter ${JSON.stringify(Object.keys(filter))}`);
  }
  const mapper: Mapper = { matches };
  if (m.status_code !== undefined) mapper.status = Number(m.status_code);
  if (m.body_format_override !== undefined) {
    const format = obj(m.body_format_override);
    onlyKnown(format, ["text_format_source", "content_type"], `${where}.body_format_override`);
    const text = obj(format.text_format_source).inline_string;
    if (typeof text !== "string") throw unmodelled(`${where}.body_format_override`, "a format other than text_format_source.inline_string");
    // Command operators (%RESPONSE_CODE%, ...) would need Envoy's formatter.
    if (text.includes("%")) throw unmodelled(`${where}.body_format_override`, "format commands (%...%)");
    mapper.body = text;
    mapper.contentType = String(format.content_type ?? "text/plain");
  }
  return mapper;
}

/** LocalReplyImpl::rewrite: the first mapper that matches decides; without a body format of its
 *  own the body stays and its content type is text/plain (Envoy's default body format). */
function localReplyMapper(config: Obj): LocalReplyMapper {
  onlyKnown(config, ["mappers"], "local_reply_config");
  const mappers = list(config.mappers).map((m, i) => readMapper(obj(m), i));
  return ({ status, details, body }) => {
    const mapper = mappers.find((m) => m.matches(status, details));
    return {
      status: mapper?.status ?? status,
      body: mapper?.body !== undefined ? Buffer.from(mapper.body) : body,
      contentType: mapper?.contentType ?? "text/plain",
    };
  };
}

/** The one route of the MCP virtual host (readRoute checks its shape). */
function theRoute(routeConfig: Obj): Obj {
  return obj(list(obj(list(routeConfig.virtual_hosts)[0]).routes)[0]);
}

function readRoute(routeConfig: Obj): GatewaySettings["route"] {
  onlyKnown(routeConfig, ["name", "virtual_hosts"], "route_config");
  const hosts = list(routeConfig.virtual_hosts).map(obj);
  if (hosts.length !== 1 || JSON.stringify(hosts[0].domains) !== '["*"]') throw unmodelled("route_config", "virtual hosts other than one for domains [\"*\"]");
  onlyKnown(hosts[0], ["name", "domains", "routes"], "route_config.virtual_hosts[0]");
  const routes = list(hosts[0].routes).map(obj);
  if (routes.length !== 1) throw unmodelled("route_config.virtual_hosts[0]", `${routes.length} routes (one is modelled)`);
  onlyKnown(routes[0], ["match", "route", "response_headers_to_remove"], "the route");
  const match = obj(routes[0].match);
  const action = obj(routes[0].route);
  onlyKnown(action, ["cluster", "timeout", "idle_timeout"], "the route's action");
  if (action.cluster !== MCP_CLUSTER) throw unmodelled("the route", `cluster ${String(action.cluster)}`);
  // A route timeout would add x-envoy-expected-rq-timeout-ms upstream and end streams.
  if (action.timeout === undefined || durationMs(action.timeout, "the route's timeout") !== 0) {
    throw unmodelled("the route", `timeout ${String(action.timeout ?? "15s (the default)")} (only 0s)`);
  }
  const keys = Object.keys(match);
  if (keys.length === 1 && (keys[0] === "path_separated_prefix" || keys[0] === "prefix")) {
    return { kind: keys[0], value: String(match[keys[0]]) };
  }
  throw unmodelled("the route", `the match ${JSON.stringify(match)}`);
}

const HCM_KEYS = [
  "@type", "stat_prefix", "codec_type", "stream_idle_timeout", "request_timeout", "common_http_protocol_options",
  "normalize_path", "merge_slashes", "path_with_escaped_slashes_action", "access_log", "route_config", "http_filters",
  "local_reply_config", "server_name", "delayed_close_timeout", "max_request_headers_kb",
];

/** Reads envoy.yaml, as rendered, into the settings the emulator gateway applies. */
export function readGatewaySettings(renderedYaml: string): GatewaySettings {
  const bootstrap = parse(renderedYaml) as unknown;
  const at = pluginConfigurationPath(bootstrap);
  const dig = (p: (string | number)[]) => p.reduce<unknown>((v, k) => (Array.isArray(v) ? v[k as number] : obj(v)[k as string]), bootstrap);
  const listener = obj(dig(at.slice(0, 3)));
  const hcm = obj(dig(at.slice(0, 8)));
  const wasm = obj(dig(at.slice(0, 12)));
  onlyKnown(hcm, HCM_KEYS, "the http_connection_manager");
  if (!["AUTO", "HTTP1", undefined].includes(hcm.codec_type as string)) throw unmodelled("the http_connection_manager", `codec_type ${String(hcm.codec_type)}`);
  const common = obj(hcm.common_http_protocol_options);
  onlyKnown(common, ["idle_timeout", "max_headers_count"], "common_http_protocol_options");
  const filters = list(hcm.http_filters).map((f) => String(obj(f).name));
  if (JSON.stringify(filters) !== '["envoy.filters.http.api_key_auth","envoy.filters.http.wasm","envoy.filters.http.router"]') {
    throw unmodelled("http_filters", JSON.stringify(filters) + " (api_key_auth, the wasm filter, then the router are modelled)");
  }
  const escaped = String(hcm.path_with_escaped_slashes_action ?? "KEEP_UNCHANGED");
  if (escaped !== "KEEP_UNCHANGED" && escaped !== "REJECT_REQUEST" && escaped !== "IMPLEMENTATION_SPECIFIC_DEFAULT") {
    throw unmodelled("the http_connection_manager", `path_with_escaped_slashes_action ${escaped}`);
  }
  const failure = String(wasm.failure_policy ?? "FAIL_CLOSED");
  return {
    route: readRoute(obj(hcm.route_config)),
    responseHeadersToRemove: list(theRoute(obj(hcm.route_config)).response_headers_to_remove).map((h) => String(h).toLowerCase()),
    normalizePath: hcm.normalize_path === true,
    mergeSlashes: hcm.merge_slashes === true,
    escapedSlashes: escaped === "REJECT_REQUEST" ? "REJECT_REQUEST" : "KEEP_UNCHANGED",
    serverName: String(hcm.server_name ?? "envoy"),
    maxRequestHeadersBytes: Number(hcm.max_request_headers_kb ?? 60) * 1024,
    maxRequestHeaders: Number(common.max_headers_count ?? 100),
    delayedCloseMs: hcm.delayed_close_timeout === undefined ? 1000 : durationMs(hcm.delayed_close_timeout, "delayed_close_timeout"),
    bufferLimitBytes: Number(listener.per_connection_buffer_limit_bytes ?? 1024 * 1024),
    rootId: String(wasm.root_id ?? ""),
    allowOnHeadersStopIteration: wasm.allow_on_headers_stop_iteration === true,
    failurePolicy: (failure === "UNSPECIFIED" ? "FAIL_CLOSED" : failure) as FailurePolicy,
    mapLocalReply: localReplyMapper(obj(hcm.local_reply_config)),
    keyAuth: readKeyAuth(obj(obj(list(hcm.http_filters)[0]).typed_config)),
  };
}

function readKeyAuth(config: Obj): KeyAuth {
  const where = "envoy.filters.http.api_key_auth";
  onlyKnown(config, ["@type", "credentials", "key_sources", "forwarding"], where);
  const sources = list(config.key_sources).map(obj);
  if (sources.length !== 1 || Object.keys(sources[0]).join() !== "header") throw unmodelled(where, "key sources other than one header");
  const forwarding = obj(config.forwarding);
  onlyKnown(forwarding, ["hide_credentials"], `${where}.forwarding`);
  return {
    header: String(sources[0].header).toLowerCase(),
    keys: list(config.credentials).map((c) => String(obj(c).key)),
    hideCredentials: forwarding.hide_credentials === true,
  };
}
