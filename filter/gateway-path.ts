// The request path as Envoy's connection manager prepares it before any filter runs, and the
// router's match on it:
// - source/common/http/conn_manager_utility.cc maybeNormalizePath: escaped slashes are rejected
//   first (path_with_escaped_slashes_action), then the path is canonicalized (normalize_path),
//   then slashes merged (merge_slashes); the query is left alone;
// - source/common/http/path_utility.cc canonicalPath, which runs Chromium's URL path
//   canonicalizer: "\" is "/", escapes of unreserved characters are decoded, characters a path
//   may not hold raw are escaped, "." and ".." segments (escaped too) are resolved, and an
//   escaped NUL fails the request;
// - source/common/router/config_impl.cc PathSeparatedPrefixRouteEntryImpl: the prefix is the
//   whole path or is followed by "/".
import type { GatewaySettings } from "./gateway-settings";

/** A path Envoy answers 400 before the filter sees the request. */
export class PathRejected extends Error {
  constructor(readonly details: string) {
    super(details);
  }
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;
// Printable characters Chromium's path canonicalizer escapes.
const ESCAPED_RAW = new Set(['"', "<", ">", "`", "{", "}", "|", "^", " "]);
const ESCAPED_SLASH = /%(2f|5c)/i;

function hex(c: string): string {
  return `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`;
}

/** Chromium's path canonicalization as Envoy runs it; throws PathRejected where it fails. */
function canonicalize(path: string): string {
  let out = "";
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c === "%" && /^[0-9A-Fa-f]{2}$/.test(path.slice(i + 1, i + 3))) {
      const decoded = String.fromCharCode(parseInt(path.slice(i + 1, i + 3), 16));
      if (decoded === "\0") throw new PathRejected("path_normalization_failed");
      if (UNRESERVED.test(decoded)) { out += decoded; i += 2; continue; }
      out += path.slice(i, i + 3);
      i += 2;
      continue;
    }
    if (c === "\\") out += "/";
    else if (ESCAPED_RAW.has(c)) out += hex(c);
    else out += c;
  }
  return removeDotSegments(out);
}

/** RFC 3986 5.2.4 on a path whose escapes of "." are already decoded. */
function removeDotSegments(path: string): string {
  const segments = path.split("/").slice(1);
  const out: string[] = [];
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === ".") { if (last) out.push(""); return; }
    if (segment === "..") { out.pop(); if (last) out.push(""); return; }
    out.push(segment);
  });
  return "/" + out.join("/");
}

/** The :path the filter and the upstream see, or PathRejected for Envoy's 400. */
export function preparePath(target: string, settings: GatewaySettings): string {
  // A fragment never reaches the server; Envoy refuses a request line that carries one.
  if (target.includes("#")) throw new PathRejected("http1.invalid_url");
  const q = target.indexOf("?");
  let path = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? "" : target.slice(q);
  if (settings.escapedSlashes === "REJECT_REQUEST" && ESCAPED_SLASH.test(path)) throw new PathRejected("path_normalization_failed");
  if (settings.normalizePath) path = canonicalize(path);
  if (settings.mergeSlashes) path = path.replace(/\/{2,}/g, "/");
  return path + query;
}

/** The route matches the path (its query ignored). */
export function routeMatches(pathAndQuery: string, route: GatewaySettings["route"]): boolean {
  const q = pathAndQuery.indexOf("?");
  const path = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
  if (route.kind === "prefix") return path.startsWith(route.value);
  return path === route.value || path.startsWith(route.value.endsWith("/") ? route.value : `${route.value}/`);
}
