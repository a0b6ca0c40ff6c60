// Server-sent events framing (WHATWG HTML "event stream" parsing), for rewriting the
// JSON-RPC payloads of a buffered tools/list response. Lines end in CRLF, LF or CR;
// an empty line ends an event; `data` lines are joined with LF. Events whose data
// needs no change are copied byte for byte.
import { Bytes, ascii } from "./abi";
import { ToolJudge, ToolsFilter } from "./tools";

export class SseRewriter {
  hidden: i32 = 0;
  private tools: ToolsFilter = new ToolsFilter();
  private data: Bytes = new Bytes(256);
  private json: Bytes = new Bytes(256);
  private scan: EventScan = new EventScan();

  /** Rewrites the events in the first `len` bytes of `src`; `streamStart`: they open the stream. */
  run(src: Bytes, len: i32, judge: ToolJudge, out: Bytes, streamStart: bool = true): void {
    this.hidden = 0;
    let p = 0;
    if (streamStart) {
      // What the client skips before its first event: the MCP SDK's UTF-8 decoder drops a byte
      // order mark, then its event-stream parser drops "ï»¿" (a BOM read as Latin-1).
      const skip = startsWith(src, 0, len, BOM) ? BOM.len : 0;
      const more = startsWith(src, skip, len, BOM_LATIN1) ? BOM_LATIN1.len : 0;
      out.raw(src.ptr, skip + more);
      p = skip + more;
    }
    const scan = this.scan;
    scan.reset(p);
    while (p < len) {
      const closed = scan.next(src, len);
      const to = closed > 0 ? closed : len;
      this.event(src, p, to, judge, out);
      p = to;
    }
  }

  private event(src: Bytes, from: i32, to: i32, judge: ToolJudge, out: Bytes): void {
    const data = this.data;
    data.reset();
    let dataLines = 0;
    let p = from;
    while (p < to) {
      const lineEnd = lineEndAt(src, p, to);
      const v = dataValue(src, p, lineEnd);
      if (v >= 0) {
        if (dataLines > 0) data.byte(0x0a);
        data.raw(src.ptr + <usize>v, lineEnd - v);
        dataLines++;
      }
      p = skipEol(src, lineEnd, to);
    }
    const json = this.json;
    json.reset();
    if (dataLines == 0 || !this.tools.run(data.ptr, data.len, judge, json) || this.tools.hidden == 0) {
      out.raw(src.ptr + <usize>from, to - from);
      return;
    }
    this.hidden += this.tools.hidden;
    // Re-emit the event: other fields as they were, the new data where the first data line was.
    let wrote = false;
    p = from;
    while (p < to) {
      const lineEnd = lineEndAt(src, p, to);
      const next = skipEol(src, lineEnd, to);
      if (dataValue(src, p, lineEnd) >= 0) {
        if (!wrote) { writeData(json, out); wrote = true; }
      } else {
        out.raw(src.ptr + <usize>p, next - p);
      }
      p = next;
    }
  }
}

const LF: i32 = 0x0a;
const CR: i32 = 0x0d;

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

  /** Starts again, at offset `from`, the start of an event. */
  reset(from: i32 = 0): void {
    this.at = from;
    this.lineStart = true;
    this.afterCR = false;
  }

  /** The front `n` bytes went away (the bytes scanned so far still start at the same event). */
  dropped(n: i32): void { this.at -= n; }

  /**
   * Scans the first `len` bytes of `src` (the same bytes as before, perhaps more at the end) on
   * to the next event end; returns its offset, or 0 when every byte is scanned and none ends an
   * event.
   */
  next(src: Bytes, len: i32): i32 {
    let i = this.at;
    let lineStart = this.lineStart;
    let afterCR = this.afterCR;
    let closed = 0;
    while (i < len) {
      // Inside a line, only its line break matters: go to it.
      if (!lineStart && !afterCR) { i = src.lineBreak(i, len); if (i >= len) break; }
      const c = src.at(i);
      i++;
      if (afterCR) {
        afterCR = false;
        if (c == LF) continue;
      }
      if (c != LF && c != CR) { lineStart = false; continue; }
      if (!lineStart) { lineStart = true; afterCR = c == CR; continue; }
      // An empty line: the event ends after its line break.
      if (c == CR && i < len && src.at(i) == LF) i++;
      closed = i;
      break;
    }
    this.at = i;
    this.lineStart = lineStart;
    this.afterCR = afterCR;
    return closed;
  }

  /** How many of the `len` first bytes of `src` make whole events (up to the last event end). */
  whole(src: Bytes, len: i32): i32 {
    let last = 0;
    for (let e = this.next(src, len); e > 0; e = this.next(src, len)) last = e;
    return last;
  }
}

const DATA = ascii("data");
const BOM = bytesOf([0xef, 0xbb, 0xbf]);
const BOM_LATIN1 = bytesOf([0xc3, 0xaf, 0xc2, 0xbb, 0xc2, 0xbf]); // "ï»¿" in UTF-8

function bytesOf(list: i32[]): Bytes {
  const b = new Bytes(list.length);
  for (let i = 0; i < list.length; i++) b.byte(list[i]);
  return b;
}

/** [at, len) of `src` starts with `lit`. */
function startsWith(src: Bytes, at: i32, len: i32, lit: Bytes): bool {
  return at + lit.len <= len && src.rangeIs(at, at + lit.len, lit.ptr, lit.len);
}

function lineEndAt(src: Bytes, p: i32, end: i32): i32 { return src.lineBreak(p, end); }

function skipEol(src: Bytes, p: i32, end: i32): i32 {
  if (p >= end) return p;
  if (src.at(p) == CR) {
    p++;
    if (p < end && src.at(p) == LF) p++;
    return p;
  }
  return p + 1;
}

/** If the line [p, lineEnd) is a `data` field, where its value starts; else -1. */
function dataValue(src: Bytes, p: i32, lineEnd: i32): i32 {
  const n = lineEnd - p;
  if (n < 4 || !src.rangeIs(p, p + 4, DATA.ptr, DATA.len)) return -1;
  if (n == 4) return lineEnd;
  if (src.at(p + 4) != 0x3a) return -1;
  let v = p + 5;
  if (v < lineEnd && src.at(v) == 0x20) v++;
  return v;
}

/** JSON has no raw line breaks inside strings, so splitting it on them only splits whitespace. */
function writeData(json: Bytes, out: Bytes): void {
  const n = json.len;
  let start = 0;
  while (start <= n) {
    const end = json.lineBreak(start, n);
    out.str("data: ");
    out.raw(json.ptr + <usize>start, end - start);
    out.byte(0x0a);
    start = end + 1;
  }
}
