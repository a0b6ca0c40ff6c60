// Traffic for the dashboard picture (npm run dashboard:png -- --local): the dashboard test's
// Envoy, stand-in server and Prometheus, with a varied mix sent for a while, so the panels have
// lines to draw. The mix is fixed (no randomness), so every run draws the same shapes.
import { rawRequest } from "../e2e/harness";
import { call, rpc } from "../envoy/stack";
import { renderPrometheusConfig } from "../../infra/monitoring/prometheusConfig";
import { startPrometheus } from "./prometheus";
import { as, FAILING_TOOLS, openSseStream, POLICY, startScrapedEnvoy, startUpstream } from "./rig";

// The stack's policy with one limit, which Alice's get-sum calls (one every two seconds) run
// into now and then: a bucket of 3 that gains a call every 5 s.
const DEMO_POLICY = {
  ...POLICY,
  limits: [{ name: "sum-per-user", key: "user", tools: ["get-sum"], maxTokens: 3, fillInterval: "5s" }],
};

export interface Demo { prometheusUrl: string; scrapeSeconds: number; start: number; end: number; stop(): Promise<void> }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One second's requests, by the second's number: a steady base and periodic bursts. */
function secondOf(n: number): { body: string; user: string; contentType?: string }[] {
  const out: { body: string; user: string; contentType?: string }[] = [];
  const phase = Math.sin((n / 30) * Math.PI);
  for (let i = 0; i < 3 + Math.round(2 * phase); i++) out.push({ body: call(n * 100 + i, "echo"), user: "alice" });
  if (n % 2 === 0) out.push({ body: call(n * 100 + 10, "get-sum", { a: 1, b: 2 }), user: "alice" });
  if (n % 3 === 0) out.push({ body: rpc(n * 100 + 11, "tools/list"), user: "alice" }, { body: rpc(n * 100 + 12, "ping"), user: "bob" });
  if (n % 5 === 0) out.push({ body: call(n * 100 + 13, "get-env"), user: "bob" });
  if (n % 7 === 0) out.push({ body: call(n * 100 + 14, "get-sum"), user: "guest" });
  if (n % 11 === 0) out.push({ body: "{bad", user: "bob" }, { body: rpc(n * 100 + 15, "ping"), user: "bob", contentType: "text/plain" });
  if (n % 13 === 0) out.push({ body: call(n * 100 + 16, FAILING_TOOLS.serverError), user: "alice" });
  if (n % 17 === 0) out.push({ body: call(n * 100 + 17, FAILING_TOOLS.hangUp), user: "alice" });
  if (n % 10 === 0) out.push({ body: rpc(n * 100 + 18, "initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "d", version: "1" } }), user: "carol" });
  return out;
}

export async function runDemo(seconds: number): Promise<Demo> {
  const scrapeSeconds = 2;
  const upstream = await startUpstream();
  const envoy = await startScrapedEnvoy(DEMO_POLICY, upstream.port);
  const prom = await startPrometheus(renderPrometheusConfig({ target: envoy.metricsTarget, scrapeInterval: `${scrapeSeconds}s` }));
  const streams: (() => void)[] = [];
  const stop = async () => { streams.forEach((close) => close()); await prom.stop(); await envoy.stop(); await upstream.stop(); };
  try {
    const start = Date.now() / 1000;
    for (let n = 0; n < seconds; n++) {
      const began = Date.now();
      // Open SSE streams rise and fall as clients come and go.
      const wanted = 1 + Math.round(2 + 2 * Math.sin((n / 45) * Math.PI));
      while (streams.length < wanted) streams.push(await openSseStream(envoy.mcpUrl));
      while (streams.length > wanted) streams.pop()!();
      for (const r of secondOf(n)) {
        const headers = r.contentType ? { ...as(r.user), "content-type": r.contentType } : as(r.user);
        await rawRequest(envoy.mcpUrl, "POST", headers, r.body);
      }
      await sleep(Math.max(0, 1000 - (Date.now() - began)));
    }
    // Envoy merges its histograms every 5 s; wait for the last merge and a scrape of it.
    await sleep(6000 + scrapeSeconds * 1000);
    return { prometheusUrl: prom.url, scrapeSeconds, start, end: Date.now() / 1000, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
