// Removes tools the caller may not call from tools/list results. Every `result.tools`
// array in the document is filtered (duplicate keys included, since the client's
// JSON.parse keeps the last one); everything else is copied byte for byte.
import { Bytes, ascii, Scanner } from "./abi";

const K_RESULT = ascii("result");
const K_TOOLS = ascii("tools");
const K_NAME = ascii("name");

export abstract class ToolJudge {
  abstract visible(name: Bytes): bool;
}

// An edit replaces body[from, to) (the inside of a tools array) with its kept elements.
class Edit {
  from: usize = 0;
  to: usize = 0;
  keptFrom: Array<usize> = [];
  keptTo: Array<usize> = [];
}


export class ToolsFilter {
  s: Scanner = new Scanner();
  hidden: i32 = 0;
  private edits: Array<Edit> = [];

  /**
   * Writes the filtered document to `out`. Returns false (and writes nothing) when the
   * document is not JSON; the caller then decides what to pass on.
   */
  run(ptr: usize, len: i32, judge: ToolJudge, out: Bytes): bool {
    const s = this.s;
    this.hidden = 0;
    this.edits = [];
    s.reset(ptr, len);
    s.ws();
    if (s.peek() == 0x5b) {
      s.pos++;
      if (!s.eat(0x5d)) {
        while (true) {
          if (!this.message(judge)) return false;
          if (s.eat(0x2c)) continue;
          if (!s.expect(0x5d)) return false;
          break;
        }
      }
    } else if (!this.message(judge)) {
      return false;
    }
    if (!s.finish()) return false;
    let cursor = ptr;
    for (let i = 0; i < this.edits.length; i++) {
      const e = this.edits[i];
      out.raw(cursor, <i32>(e.from - cursor));
      for (let k = 0; k < e.keptFrom.length; k++) {
        if (k > 0) out.byte(0x2c);
        out.raw(e.keptFrom[k], <i32>(e.keptTo[k] - e.keptFrom[k]));
      }
      cursor = e.to;
    }
    out.raw(cursor, <i32>(ptr + <usize>len - cursor));
    return true;
  }

  private message(judge: ToolJudge): bool {
    const s = this.s;
    s.ws();
    if (s.peek() != 0x7b) return s.skipValue();
    return this.object(judge, false);
  }

  /**
   * Walks the object at the cursor: in a message, into each object `result`; in a result,
   * into each array `tools`. Every other member is skipped (and validated).
   */
  private object(judge: ToolJudge, inResult: bool): bool {
    const s = this.s;
    s.pos++;
    if (s.eat(0x7d)) return true;
    while (true) {
      if (!s.key()) return false;
      s.ws();
      if (!inResult && s.peek() == 0x7b && s.strIs(K_RESULT.ptr, K_RESULT.len)) {
        if (!this.object(judge, true)) return false;
      } else if (inResult && s.peek() == 0x5b && s.strIs(K_TOOLS.ptr, K_TOOLS.len)) {
        if (!this.tools(judge)) return false;
      } else if (!s.skipValue()) return false;
      if (s.eat(0x2c)) continue;
      return s.expect(0x7d);
    }
  }

  private tools(judge: ToolJudge): bool {
    const s = this.s;
    s.pos++;
    const edit = new Edit();
    edit.from = s.pos;
    let removed = 0;
    if (!s.eat(0x5d)) {
      while (true) {
        s.ws();
        const from = s.pos;
        let name: Bytes | null = null;
        if (s.peek() == 0x7b) {
          name = this.toolName();
          if (s.err != 0) return false;
        } else if (!s.skipValue()) return false;
        const to = s.pos;
        if (name !== null && !judge.visible(name as Bytes)) {
          removed++;
        } else {
          edit.keptFrom.push(from);
          edit.keptTo.push(to);
        }
        s.ws();
        if (s.peek() == 0x2c) { s.pos++; continue; }
        if (!s.expect(0x5d)) return false;
        break;
      }
    }
    edit.to = s.pos - 1;
    if (removed > 0) {
      this.hidden += removed;
      this.edits.push(edit);
    }
    return true;
  }

  /** Scans one tool object and returns its (last) string `name`, if any. */
  private toolName(): Bytes | null {
    const s = this.s;
    let name: Bytes | null = null;
    s.pos++;
    if (s.eat(0x7d)) return null;
    while (true) {
      if (!s.key()) return null;
      s.ws();
      if (s.strIs(K_NAME.ptr, K_NAME.len)) {
        if (s.peek() == 0x22) { if (!s.str()) return null; name = s.decoded(); }
        else { name = null; if (!s.skipValue()) return null; }
      } else if (!s.skipValue()) return null;
      if (s.eat(0x2c)) continue;
      if (!s.expect(0x7d)) return null;
      return name;
    }
  }
}
