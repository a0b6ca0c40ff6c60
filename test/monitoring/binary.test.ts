// The dashboard test needs Debian's Prometheus: without it the run fails and says what to install.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { findPrometheus } from "./prometheus";

function withEnv<T>(env: Record<string, string>, run: () => T): T {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return run();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  }
}

describe("the Prometheus binary", () => {
  it("is found, and is a Prometheus", () => {
    const version = execFileSync(findPrometheus(), ["--version"], { encoding: "utf8" });
    assert.match(version, /^prometheus, version \d+\.\d+/);
  });

  it("missing, fails with the Debian package to install, never skips", () => {
    assert.throws(() => withEnv({ PROMETHEUS_BIN: "", PATH: "/nonexistent" }, findPrometheus),
      /no prometheus binary found\. Install Debian's prometheus package \(apt-get install prometheus/);
    assert.throws(() => withEnv({ PROMETHEUS_BIN: "/nonexistent/prometheus" }, findPrometheus),
      /PROMETHEUS_BIN=\/nonexistent\/prometheus does not exist\. Install Debian's prometheus package/);
  });
});
