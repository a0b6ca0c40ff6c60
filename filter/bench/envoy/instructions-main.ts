// npm run build:filter && npm run bench:envoy:instructions [-- --json] [--requests 200]
//   [--warmup 100] [--configs A,C,E,F,B,R]
// User-space instructions per small tools/call (283 B) through each configuration's Envoy, counted
// exactly under valgrind's callgrind (instructions.ts). The configurations are bench:envoy's: A
// passthrough, C the native MCP filter with RBAC, E an empty wasm module, F the floor (only B's
// host calls), B this filter with the default policy, R B with a rate limit. Slow (about a minute
// per configuration): Envoy runs on a simulated CPU.
import { envoyVersionOf, findEnvoy } from "../../../envoy/binary";
import { CONFIG_TITLES, checkWasmIsFresh } from "./configs";
import { BenchArgs } from "./options";
import { MIN_THROUGHPUT_SHARE } from "./report";
import { INSTRUCTION_CONFIGS, countInstructions, goalBudget, instructionRows, type InstructionConfig } from "./instructions";

function parseOptions(argv: string[]): { json: boolean; requests: number; warmup: number; configs: InstructionConfig[] } {
  const args = new BenchArgs(argv, ["--json"], ["--requests", "--warmup", "--configs"]);
  const configs = (args.text("--configs") ?? INSTRUCTION_CONFIGS.join(",")).split(",") as InstructionConfig[];
  for (const c of configs) if (!INSTRUCTION_CONFIGS.includes(c)) throw new Error(`--configs: ${c} is not one of ${INSTRUCTION_CONFIGS.join(",")}`);
  if (new Set(configs).size !== configs.length) throw new Error(`--configs names a configuration twice: ${configs.join(",")}`);
  if (!configs.includes("A")) throw new Error("--configs must include A: every count is set against passthrough");
  return { json: args.has("--json"), requests: args.count("--requests", 200, 1), warmup: args.count("--warmup", 100, 0), configs };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const envoyVersion = envoyVersionOf(findEnvoy());
  checkWasmIsFresh();
  const log = (s: string) => { if (!o.json) process.stderr.write(s); };
  const counts = await countInstructions({ configs: o.configs, requests: o.requests, warmup: o.warmup, log });
  const rows = instructionRows(counts);
  if (o.json) {
    process.stdout.write(JSON.stringify({ envoyVersion, requests: o.requests, warmup: o.warmup, goalBudgetPerReq: Math.round(goalBudget(rows)), configs: rows }) + "\n");
    return;
  }
  const k = (n: number) => `${(n / 1000).toFixed(1)} k`;
  process.stdout.write(`Envoy ${envoyVersion}, one worker, small tools/call, ${o.requests} requests on one keep-alive connection after ${o.warmup}; user-space instructions, all threads.\n\n`);
  process.stdout.write(`${"config".padEnd(8)}${"instr/req".padStart(12)}${"added".padStart(12)}${"A / config".padStart(12)}   \n`);
  for (const r of rows) {
    process.stdout.write(`${r.config.padEnd(8)}${k(r.instructionsPerReq).padStart(12)}${k(r.addedPerReq).padStart(12)}${`${(r.throughputVsA * 100).toFixed(1)}%`.padStart(12)}   ${CONFIG_TITLES[r.config]}\n`);
  }
  process.stdout.write(`\nThroughput goal (${MIN_THROUGHPUT_SHARE * 100}% of A): at most ${k(goalBudget(rows))} instructions per request, ${k(goalBudget(rows) - rows.find((r) => r.config === "A")!.instructionsPerReq)} over A. `
    + `Met by: ${rows.filter((r) => r.config !== "A" && r.meetsThroughputGoal).map((r) => r.config).join(", ") || "none"}.\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:envoy:instructions: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
