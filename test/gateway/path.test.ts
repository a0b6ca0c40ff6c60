// The :path the filter and the upstream see, and the route's match on it, as Envoy 1.40 makes
// them with envoy.yaml's normalize_path, merge_slashes and path_with_escaped_slashes_action
// (source/common/http/conn_manager_utility.cc maybeNormalizePath, path_utility.cc canonicalPath,
// router/config_impl.cc PathSeparatedPrefixRouteEntryImpl). Every row was measured on Envoy:
// the path its upstream received (or its 404, where the prepared path is off the route), or its 400.
import * as assert from "node:assert/strict";
import { PathRejected, preparePath, routeMatches } from "../../filter/gateway-path";
import { readGatewaySettings, renderGatewayYaml } from "../../filter/gateway-settings";
import { GATEWAY_KEY } from "../envoy/stack";

const settings = readGatewaySettings(renderGatewayYaml('{"defaultAction":"allow"}', GATEWAY_KEY));

const PREPARED: Array<[string, string]> = [
  ["/mcp", "/mcp"], ["/mcp/", "/mcp/"], ["/mcp?x=1", "/mcp?x=1"], ["//mcp", "/mcp"], ["/a/../mcp", "/mcp"],
  ["/mcp/./x", "/mcp/x"], ["/%6Dcp", "/mcp"], ["/mcp/%2e%2e/mcp", "/mcp"], ["/mcp/a%2E%2E", "/mcp/a.."], ["/mcp\\x", "/mcp/x"],
  ["/mcp/%7e", "/mcp/~"], ["/mcp/%41", "/mcp/A"], ["/mcp/%5F%2D%2e", "/mcp/_-."], ["/../mcp", "/mcp"], ["/mcp/..", "/"],
  ["/mcp/.", "/mcp/"], ["/mcp/%zz", "/mcp/%zz"], ["/mcp/%2", "/mcp/%2"], ["/mcp/%3f", "/mcp/%3f"], ["/mcp/%2a", "/mcp/%2a"],
  ["/mcp/%e9", "/mcp/%e9"], ['/mcp/"', "/mcp/%22"], ["/mcp/{x}", "/mcp/%7Bx%7D"], ["/mcp/|", "/mcp/%7C"], ["/mcp/^", "/mcp/%5E"],
  ["/mcp/`", "/mcp/%60"], ["/mcp/<>", "/mcp/%3C%3E"], ["/mcp/'", "/mcp/'"], ["/mcp/[x]", "/mcp/[x]"], ["/mcp/%5B%5D", "/mcp/%5B%5D"],
  ["/mcp/a/./b/../c", "/mcp/a/c"], ["/mcp?q=%41&b=//x", "/mcp?q=%41&b=//x"], ["/mcp/x/..?q", "/mcp/?q"], ["/mcp/...", "/mcp/..."],
  ["///mcp//x///", "/mcp/x/"], ["/mcp?a=/../b", "/mcp?a=/../b"],
];

const REFUSED = ["/mcp%2Fx", "/mcp%2fx", "/mcp/%5Cx", "/mcp/%5cx", "/mcp#frag", "/mcp/x?a#b", "/mcp/%00"];

describe("gateway: the request path as Envoy prepares and routes it", () => {
  for (const [target, want] of PREPARED) {
    it(`${target} -> ${want}`, () => assert.equal(preparePath(target, settings), want));
  }

  it(`refuses escaped slashes, fragments and an escaped NUL: ${REFUSED.join(" ")}`, () => {
    for (const target of REFUSED) assert.throws(() => preparePath(target, settings), PathRejected, target);
  });

  it("routes /mcp and what lies below it, not /mcpx, /MCP, /mcp;x or /", () => {
    const routed = (p: string) => routeMatches(p, settings.route);
    assert.deepEqual(["/mcp", "/mcp/", "/mcp/x", "/mcp?x=1"].map(routed), [true, true, true, true]);
    assert.deepEqual(["/mcpx", "/MCP", "/mcp;x", "/", "/other"].map(routed), [false, false, false, false, false]);
  });
});
