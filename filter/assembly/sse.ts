// Server-sent events framing (WHATWG HTML "event stream" parsing), for rewriting the
// JSON-RPC payloads of a buffered tools/list response. Lines end in CRLF, LF or CR;
// an empty line ends an event; `data` lines are joined with LF. Events whose data
// needs no change are copied byte for byte.
import { Bytes } from "./bytes";
import { ToolJudge, ToolsFilter } from "./tools";

export class SseRewriter {
  hidden: i32 = 0;
  private tools: ToolsFilter = new ToolsFilter();
  private data: Bytes = new Bytes(256);
  private json: Bytes = new Bytes(256);
  private scan: EventScan = new EventScan();

  /** Rewrites the events in [ptr, ptr + len); `streamStart`: they open the stream. */
  run(ptr: usize, len: i32, judge: ToolJudge, out: Bytes, streamStart: bool = true): void {
    this.hidden = 0;
    const end = ptr + <usize>len;
    let p = ptr;
    if (streamStart) {
      // What the client skips before its first event: the MCP SDK's UTF-8 decoder drops a byte
      // order mark, then its event-stream parser drops "ï»¿" (a BOM read as Latin-1).
      const skip = (startsWith(p, end, BOM) ? 3 : 0);
      const more = startsWith(p + <usize>skip, end, BOM_LATIN1) ? 6 : 0;
      out.raw(p, skip + more);
      p += <usize>(skip + more);
    }
    const scan = this.scan;
    scan.reset();
    const events = p;
    const n = <i32>(end - events);
    while (p < end) {
      const closed = scan.next(events, n);
      const to = closed > 0 ? events + <usize>closed : end;
      this.event(p, to, judge, out);
      p = to;
    }
  }

  private event(from: usize, to: usize, judge: ToolJudge, out: Bytes): void {
    const data = this.data;
    data.reset();
    let dataLines = 0;
    let p = from;
    while (p < to) {
      const lineEnd = lineEndAt(p, to);
      const v = dataValue(p, lineEnd);
      if (v != 0) {
        if (dataLines > 0) data.byte(0x0a);
        data.raw(v, <i32>(lineEnd - v));
        dataLines++;
      }
      p = skipEol(lineEnd, to);
    }
    const json = this.json;
    json.reset();
    if (dataLines == 0 || !this.tools.run(data.ptr, data.len, judge, json) || this.tools.hidden == 0) {
      out.raw(from, <i32>(to - from));
      return;
    }
    this.hidden += this.tools.hidden;
    // Re-emit the event: other fields as they were, the new data where the first data line was.
    let wrote = false;
    p = from;
    while (p < to) {
      const lineEnd = lineEndAt(p, to);
      const next = skipEol(lineEnd, to);
      if (dataValue(p, lineEnd) != 0) {
        if (!wrote) { writeData(json, out); wrote = true; }
      } else {
        out.raw(p, <i32>(next - p));
      }
      p = next;
    }
  }
}

const LF: u8 = 0x0a;
const CR: u8 = 0x0d;

/**
 * Finds where events end (just past each closing empty line) in bytes that may arrive chunk
 * by chunk. The scan resumes where it stopped, so each byte is looked at once however the
 * bytes are split. An empty line that ends in CR ends its event even if an LF follows in the
 * next chunk: that LF only completes its line break, for the client as for the filter.
 */
export class EventScan {
  /** Offset (from the start of the bytes) scanned so far. */
  private at: i32 = 0;
  private lineStart: bool = true; // `at` is the start of a line
  private afterCR: bool = false;  // the line before `at` ended in CR (an LF next completes it)

  reset(): void {
    this.at = 0;
    this.lineStart = true;
    this.afterCR = false;
  }

  /** The front `n` bytes went away (the bytes scanned so far still start at the same event). */
  dropped(n: i32): void { this.at -= n; }

  /**
   * Scans the `len` bytes at `p` (the same bytes as before, perhaps more at the end) on to the
   * next event end; returns its offset, or 0 when every byte is scanned and none ends an event.
   */
  next(p: usize, len: i32): i32 {
    let i = this.at;
    let lineStart = this.lineStart;
    let afterCR = this.afterCR;
    let closed = 0;
    while (i < len) {
      const c = load<u8>(p + <usize>i);
      i++;
      if (afterCR) {
        afterCR = false;
        if (c == LF) continue;
      }
      if (c != LF && c != CR) { lineStart = false; continue; }
      if (!lineStart) { lineStart = true; afterCR = c == CR; continue; }
      // An empty line: the event ends after its line break.
      if (c == CR && i < len && load<u8>(p + <usize>i) == LF) i++;
      closed = i;
      break;
    }
    this.at = i;
    this.lineStart = lineStart;
    this.afterCR = afterCR;
    return closed;
  }

  /** How many of the `len` bytes at `p` make whole events (up to the last event end). */
  whole(p: usize, len: i32): i32 {
    let last = 0;
    for (let e = this.next(p, len); e > 0; e = this.next(p, len)) last = e;
    return last;
  }
}

const BOM = memory.data<u8>([3, 0xef, 0xbb, 0xbf]);
const BOM_LATIN1 = memory.data<u8>([6, 0xc3, 0xaf, 0xc2, 0xbb, 0xc2, 0xbf]); // "ï»¿" in UTF-8

/** The bytes at p (before end) start with `lit` (a length byte, then the bytes). */
function startsWith(p: usize, end: usize, lit: usize): bool {
  const n = <usize>load<u8>(lit);
  if (p + n > end) return false;
  for (let i: usize = 0; i < n; i++) if (load<u8>(p + i) != load<u8>(lit + 1 + i)) return false;
  return true;
}

function lineEndAt(p: usize, end: usize): usize {
  while (p < end) {
    const c = load<u8>(p);
    if (c == 0x0a || c == 0x0d) break;
    p++;
  }
  return p;
}

function skipEol(p: usize, end: usize): usize {
  if (p >= end) return p;
  if (load<u8>(p) == 0x0d) {
    p++;
    if (p < end && load<u8>(p) == 0x0a) p++;
    return p;
  }
  return p + 1;
}

/** If the line is a `data` field, the start of its value; else 0. */
function dataValue(p: usize, lineEnd: usize): usize {
  const n = lineEnd - p;
  if (n < 4 || load<u32>(p) != 0x61746164) return 0; // "data"
  if (n == 4) return lineEnd;
  if (load<u8>(p + 4) != 0x3a) return 0;
  let v = p + 5;
  if (v < lineEnd && load<u8>(v) == 0x20) v++;
  return v;
}

/** JSON has no raw line breaks inside strings, so splitting it on them only splits whitespace. */
function writeData(json: Bytes, out: Bytes): void {
  const p = json.ptr;
  const n = <usize>json.len;
  let start: usize = 0;
  for (let i: usize = 0; i <= n; i++) {
    if (i == n || load<u8>(p + i) == 0x0a || load<u8>(p + i) == 0x0d) {
      out.str("data: ");
      out.raw(p + start, <i32>(i - start));
      out.byte(0x0a);
      start = i + 1;
    }
  }
}
