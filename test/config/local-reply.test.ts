// envoy.yaml maps Envoy's own error replies to JSON-RPC, but must leave the filter's replies
// (already JSON-RPC, with the request's id and the exact error) as the filter wrote them.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";

const ROOT = path.join(__dirname, "..", "..");

function filterReplyDetails(): string[] {
  const dir = path.join(ROOT, "filter", "assembly");
  const details: string[] = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
    const src = fs.readFileSync(path.join(dir, file), "utf8");
    for (const m of src.matchAll(/"(mcp_filter_[a-z_]+)"/g)) details.push(m[1]);
    // Any localReply/refuse call must name its details with a literal we can see here.
    for (const m of src.matchAll(/(?:localReply|this\.refuse)\(\s*\d+,\s*([^,]+),/g)) {
      assert.ok(/^"mcp_filter_|^details$/.test(m[1].trim()), `${file}: local reply details ${m[1]} must be an "mcp_filter_..." literal`);
    }
  }
  return details;
}

describe("envoy.yaml local replies and the filter's own replies", () => {
  const hcm = parse(fs.readFileSync(path.join(ROOT, "envoy", "envoy.yaml"), "utf8")).static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const mappers = hcm.local_reply_config.mappers;

  it("checks the filter's replies first and leaves them unchanged", () => {
    const first = mappers[0];
    assert.equal(first.filter.extension_filter.name, "envoy.access_loggers.extension_filters.cel");
    assert.equal(first.filter.extension_filter.typed_config.expression, "response.code_details.startsWith('mcp_filter_')");
    assert.deepEqual(Object.keys(first).sort(), ["filter"]);
  });

  it("every local reply the filter sends names details with the mcp_filter_ prefix", () => {
    const details = filterReplyDetails();
    assert.ok(details.length >= 5, details.join(","));
  });

  it("maps each status Envoy itself generates to a JSON-RPC body after that", () => {
    for (const m of mappers.slice(1)) {
      const body = JSON.parse(m.body_format_override.text_format_source.inline_string);
      assert.equal(body.jsonrpc, "2.0");
      assert.equal(m.body_format_override.content_type, "application/json");
    }
  });
});
