// The benches' command lines: `--flag` switches and `--flag value` options, each at most once.
// Anything else (an unknown flag, an option without its value, a stray word) is refused, so a
// mistyped run fails at once instead of measuring something other than what was asked.

export class BenchArgs {
  private readonly values = new Map<string, string | true>();

  constructor(argv: string[], switches: string[], options: string[]) {
    const known = [...switches, ...options];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (!known.includes(a)) throw new Error(`unknown argument ${a}; known: ${known.join(" ")}`);
      if (this.values.has(a)) throw new Error(`${a} is given twice`);
      if (switches.includes(a)) { this.values.set(a, true); continue; }
      const value = argv[i + 1];
      if (value === undefined || value.startsWith("--")) throw new Error(`${a} needs a value`);
      this.values.set(a, value);
      i++;
    }
  }

  has(flag: string): boolean { return this.values.has(flag); }

  /** The option's value, or undefined when it was not given. */
  text(flag: string): string | undefined {
    const v = this.values.get(flag);
    return typeof v === "string" ? v : undefined;
  }

  /** The option as a number of at least `min`, `def` when it was not given. */
  number(flag: string, def: number, min: number): number {
    const t = this.text(flag);
    if (t === undefined) return def;
    const v = Number(t);
    if (!Number.isFinite(v) || v < min) throw new Error(`${flag} needs a number of at least ${min}, got ${t}`);
    return v;
  }

  /** The option as a whole number of at least `min`. */
  count(flag: string, def: number, min: number): number {
    const v = this.number(flag, def, min);
    if (!Number.isInteger(v)) throw new Error(`${flag} needs a whole number, got ${v}`);
    return v;
  }
}
