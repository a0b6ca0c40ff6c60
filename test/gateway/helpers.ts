// The emulator gateway with a recording upstream, for tests that pin the Envoy behaviour the
// differential test (test/envoy/differential.test.ts) found. It is the differential test's own
// rig, run on the emulator engine alone.
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { startSide, type Observation, type Side } from "../envoy/differential-rig";
import { GATEWAY_AUTH } from "../envoy/stack";

const KEY_LINES = Object.entries(GATEWAY_AUTH).map(([k, v]) => `${k}: ${v}\n`).join("");

export const POLICY = {
  defaultAction: "allow",
  userHeader: "x-user-id",
  maxBodyBytes: 1024,
  rules: [{ name: "no-env", action: "deny", tools: ["get-env"] }],
};

export const CALL = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}}';

export interface TestGateway {
  side: Side;
  /** Sends the request bytes (one write, or the slices given) and waits for all of its effects.
   *  The gateway key goes in as the head's first header, as LibreChat sends it, unless `withKey`
   *  is false. */
  send(head: string, body?: string | Buffer, withKey?: boolean): Promise<Observation>;
  close(): Promise<void>;
}

export async function startEmulator(policy: object = POLICY): Promise<TestGateway> {
  const side = await startSide("emulator", JSON.stringify(policy));
  let seq = 0;
  return {
    side,
    send: (head, body = "", withKey = true) => {
      const keyed = withKey ? head.replace("\n", `\n${KEY_LINES}`) : head;
      const bytes = Buffer.concat([Buffer.from(keyed.replace(/\n/g, "\r\n"), "latin1"), Buffer.from(body)]);
      return side.run(/^\S+/.exec(head)?.[0] ?? "GET", [bytes], seq++);
    },
    close: () => side.close(),
  };
}

/** The body envoy.yaml's local_reply_config gives Envoy's own reply of `status`. */
export function mappedBody(status: number): string {
  const bootstrap = parse(fs.readFileSync(path.join(__dirname, "..", "..", "envoy", "envoy.yaml"), "utf8"));
  const mappers = bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.local_reply_config.mappers;
  const mapper = mappers.find((m: any) => m.filter.status_code_filter?.comparison.value.default_value === status);
  if (!mapper) throw new Error(`envoy.yaml maps no ${status}`);
  return mapper.body_format_override.text_format_source.inline_string;
}

/** A header's value in a list, or undefined. */
export function header(list: ReadonlyArray<readonly [string, string]>, name: string): string | undefined {
  return list.find(([k]) => k === name)?.[1];
}

/** An upstream record's headers as [name, value] pairs. */
export function upstreamHeaders(o: Observation): Array<[string, string]> {
  const raw = o.upstream[0]?.rawHeaders ?? [];
  const out: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i], raw[i + 1]]);
  return out;
}
