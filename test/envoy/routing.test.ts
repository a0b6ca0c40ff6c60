// The filter's routing headers in real Envoy: x-mcp-method and x-mcp-tool reach the MCP server,
// and Envoy picks the route again after the filter sets them, so a route can match on them.
import { strict as assert } from "node:assert";
import { rawRequest, startRecorder, type Recorder } from "../e2e/harness";
import { MCP_CLUSTER } from "../../infra/envoyConfig";
import {
  GATEWAY_AUTH,
  JSON_HEADERS, call, hostPortOf, mcpConnectionManager, rpc, startStackEnvoy, startStackRig, startStub,
  type Bootstrap, type StackEnvoy, type StackRig, type Stub,
} from "./stack";

/** The routing headers of the last request a recorder saw. */
function routingHeaders(recorder: Recorder): Record<string, unknown> {
  const last = recorder.requests[recorder.requests.length - 1];
  assert.ok(last, "nothing reached the server");
  return { method: last.headers["x-mcp-method"], tool: last.headers["x-mcp-tool"] };
}

describe("Envoy: the routing headers reach the MCP server", function () {
  let rig: StackRig;

  before(async function () {
    rig = await startStackRig();
  });
  after(async function () {
    await rig?.stop();
  });

  const cases: Array<{ what: string; body: string; client?: Record<string, string>; method: string; tool?: string }> = [
    { what: "a tools/call: its method and tool", body: call(1, "echo"), method: "tools/call", tool: "echo" },
    { what: "a tools/list: its method, no tool", body: rpc(2, "tools/list"), method: "tools/list" },
    { what: "a batch: method batch, no tool", body: `[${call(3, "echo")},${rpc(4, "ping")}]`, method: "batch" },
    {
      what: "the client's own x-mcp-* values: replaced by the filter's", body: call(5, "get-sum"),
      client: { "x-mcp-method": "ping", "x-mcp-tool": "echo" }, method: "tools/call", tool: "get-sum",
    },
    { what: "a client's x-mcp-tool on a tools/list: removed", body: rpc(6, "tools/list"), client: { "x-mcp-tool": "echo" }, method: "tools/list" },
  ];
  for (const c of cases) {
    it(c.what, async function () {
      const res = await rawRequest(rig.stack.mcpUrl, "POST", { ...JSON_HEADERS, ...c.client }, c.body);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(routingHeaders(rig.recorder), { method: c.method, tool: c.tool });
    });
  }

  it("a GET (no JSON-RPC): the client's x-mcp-* headers are removed", async function () {
    const res = await rawRequest(rig.stack.mcpUrl, "GET", { ...GATEWAY_AUTH, accept: "text/event-stream", "x-mcp-method": "tools/call", "x-mcp-tool": "echo" });
    assert.equal(res.status, 200);
    assert.deepEqual(routingHeaders(rig.recorder), { method: undefined, tool: undefined });
  });
});

const ECHO_CLUSTER = "mcp_echo_server";

/**
 * The stack's configuration plus, ahead of the /mcp route, a route that sends x-mcp-tool: echo
 * to a second cluster: routing on the filter's headers, which filter/README.md says works.
 * Everything else is as rendered.
 */
function routeEchoTo(echo: { host: string; port: number }) {
  return (bootstrap: Bootstrap): void => {
    const routes: Bootstrap[] = mcpConnectionManager(bootstrap).route_config.virtual_hosts[0].routes;
    const mcpRoute = routes[0];
    assert.equal(mcpRoute.route.cluster, MCP_CLUSTER);
    routes.unshift({
      match: { ...mcpRoute.match, headers: [{ name: "x-mcp-tool", string_match: { exact: "echo" } }] },
      route: { ...mcpRoute.route, cluster: ECHO_CLUSTER },
    });
    bootstrap.static_resources.clusters.push({
      name: ECHO_CLUSTER, type: "STATIC", connect_timeout: "5s",
      load_assignment: {
        cluster_name: ECHO_CLUSTER,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: echo.host, port_value: echo.port } } } }] }],
      },
    });
  };
}

describe("Envoy: a route on x-mcp-tool sends one tool to a second cluster", function () {
  let mainStub: Stub;
  let echoStub: Stub;
  let main: Recorder;
  let echo: Recorder;
  let stack: StackEnvoy;

  before(async function () {
    mainStub = await startStub("main");
    echoStub = await startStub("echo-server");
    main = await startRecorder(mainStub.url);
    echo = await startRecorder(echoStub.url);
    stack = await startStackEnvoy({ upstream: hostPortOf(main.url), edit: routeEchoTo(hostPortOf(echo.url)) });
  });
  after(async function () {
    await stack?.stop();
    await main?.stop();
    await echo?.stop();
    await mainStub?.stop();
    await echoStub?.stop();
  });

  /** Which server answered a tools/call. */
  async function answeredBy(body: string, client: Record<string, string> = {}): Promise<string> {
    const res = await rawRequest(stack.mcpUrl, "POST", { ...JSON_HEADERS, ...client }, body);
    assert.equal(res.status, 200, res.text);
    return (JSON.parse(res.text) as { result: { stub: string } }).result.stub;
  }

  it("tools/call echo goes to the echo cluster: the route was picked after the filter set x-mcp-tool", async function () {
    const before = { echo: echo.requests.length, main: main.requests.length };
    assert.equal(await answeredBy(call(1, "echo")), "echo-server");
    assert.deepEqual({ echo: echo.requests.length, main: main.requests.length }, { echo: before.echo + 1, main: before.main });
    assert.equal(echo.requests[echo.requests.length - 1].headers["x-mcp-tool"], "echo");
  });

  it("another tool goes to the MCP server", async function () {
    assert.equal(await answeredBy(call(2, "get-sum")), "main");
  });

  it("a client that sends x-mcp-tool: echo itself cannot steer another tool to the echo cluster", async function () {
    const before = echo.requests.length;
    assert.equal(await answeredBy(call(3, "get-sum"), { "x-mcp-tool": "echo" }), "main");
    assert.equal(echo.requests.length, before);
  });

  it("nor a GET, whose x-mcp-tool the filter removes", async function () {
    const before = echo.requests.length;
    const res = await rawRequest(stack.mcpUrl, "GET", { ...GATEWAY_AUTH, accept: "text/event-stream", "x-mcp-tool": "echo" });
    assert.equal(res.status, 200);
    assert.equal(echo.requests.length, before);
    assert.equal(main.requests[main.requests.length - 1].method, "GET");
  });

  it("an echo call in a refused batch goes nowhere: the filter answers before any route is used", async function () {
    const before = { echo: echo.requests.length, main: main.requests.length };
    const res = await rawRequest(stack.mcpUrl, "POST", JSON_HEADERS, `[${call(4, "echo")},${call(5, "get-env")}]`);
    assert.equal(res.status, 200);
    assert.deepEqual({ echo: echo.requests.length, main: main.requests.length }, before);
  });
});
