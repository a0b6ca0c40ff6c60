// Draws strings that a JSON Schema `pattern` matches, so that the policy generator can read its
// strings from the schema instead of restating them. It knows the regex subset the policy
// schema uses: anchors, classes with ranges and \s \S, (?:a|b) groups, * + ? and {m,n}.

type Rng = () => number;

type Node =
  | { kind: "seq"; items: Node[] }
  | { kind: "alt"; options: Node[] }
  | { kind: "set"; has: (ch: string) => boolean }
  | { kind: "repeat"; node: Node; min: number; max: number };

/**
 * The characters drawn from: printable ASCII, and some that JSON, UTF-8 and UTF-16 treat
 * specially (controls, a two-byte and a three-byte character, an astral one, lone surrogates).
 */
export const UNIVERSE: string[] = [
  ...Array.from({ length: 0x5f }, (_, i) => String.fromCharCode(0x20 + i)),
  "\u0000", "\t", "\n", "\u007f", "é", "€", "\u2028", "😀", "\ud800", "\udfff",
];

const SPACE = /^\s$/u;

class Parser {
  private at = 0;
  constructor(private readonly src: string) {}

  parse(): Node {
    if (this.src.startsWith("^")) this.at++;
    const node = this.alternatives();
    if (this.src[this.at] === "$") this.at++;
    if (this.at !== this.src.length) throw new Error(`regex-sampler: cannot read ${JSON.stringify(this.src)} at ${this.at}`);
    return node;
  }

  private alternatives(): Node {
    const options = [this.sequence()];
    while (this.src[this.at] === "|") {
      this.at++;
      options.push(this.sequence());
    }
    return options.length === 1 ? options[0] : { kind: "alt", options };
  }

  private sequence(): Node {
    const items: Node[] = [];
    while (this.at < this.src.length && !"|)$".includes(this.src[this.at])) items.push(this.quantified(this.atom()));
    return { kind: "seq", items };
  }

  private atom(): Node {
    const c = this.src[this.at++];
    if (c === "(") {
      if (this.src.slice(this.at, this.at + 2) !== "?:") throw new Error("regex-sampler: only (?:...) groups");
      this.at += 2;
      const inner = this.alternatives();
      if (this.src[this.at++] !== ")") throw new Error("regex-sampler: unclosed group");
      return inner;
    }
    if (c === "[") return this.set();
    if (c === "\\") return this.escape();
    return { kind: "set", has: (ch) => ch === c };
  }

  private escape(): Node {
    const c = this.src[this.at++];
    if (c === "s") return { kind: "set", has: (ch) => SPACE.test(ch) };
    if (c === "S") return { kind: "set", has: (ch) => !SPACE.test(ch) };
    return { kind: "set", has: (ch) => ch === c };
  }

  private set(): Node {
    const negated = this.src[this.at] === "^";
    if (negated) this.at++;
    const parts: Array<(ch: string) => boolean> = [];
    while (this.src[this.at] !== "]") {
      if (this.at >= this.src.length) throw new Error("regex-sampler: unclosed class");
      const first = this.src[this.at++];
      if (first === "\\") {
        const e = this.escape() as { has: (ch: string) => boolean };
        parts.push(e.has);
      } else if (this.src[this.at] === "-" && this.src[this.at + 1] !== "]") {
        const last = this.src[this.at + 1];
        this.at += 2;
        parts.push((ch) => ch >= first && ch <= last && ch.length === 1);
      } else {
        parts.push((ch) => ch === first);
      }
    }
    this.at++;
    return { kind: "set", has: (ch) => parts.some((p) => p(ch)) !== negated };
  }

  private quantified(node: Node): Node {
    const c = this.src[this.at];
    if (c === "*") { this.at++; return { kind: "repeat", node, min: 0, max: Infinity }; }
    if (c === "+") { this.at++; return { kind: "repeat", node, min: 1, max: Infinity }; }
    if (c === "?") { this.at++; return { kind: "repeat", node, min: 0, max: 1 }; }
    const bounds = /^\{(\d+),(\d+)\}/.exec(this.src.slice(this.at));
    if (bounds) {
      this.at += bounds[0].length;
      return { kind: "repeat", node, min: Number(bounds[1]), max: Number(bounds[2]) };
    }
    return node;
  }
}

function draw(node: Node, rng: Rng, count: number): string {
  switch (node.kind) {
    case "seq": return node.items.map((n) => draw(n, rng, count)).join("");
    case "alt": return draw(node.options[Math.floor(rng() * node.options.length)], rng, count);
    case "set": {
      const choices = UNIVERSE.filter(node.has);
      return choices[Math.floor(rng() * choices.length)];
    }
    case "repeat": {
      const n = Math.max(node.min, Math.min(node.max, count));
      let out = "";
      for (let i = 0; i < n; i++) out += draw(node.node, rng, count);
      return out;
    }
  }
}

/** A string `pattern` matches, with unbounded repeats (* +) taken `count` times. */
export function sampleMatch(pattern: string, rng: Rng, count: number): string {
  return draw(new Parser(pattern).parse(), rng, count);
}
