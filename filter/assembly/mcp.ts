// JSON-RPC / MCP facts of a request body, read with the scanner.
// Duplicate keys: the last occurrence wins, as in JSON.parse, for every key that
// decides anything (jsonrpc, method, id, params, params.name, params.uri); a later
// `params` replaces everything an earlier one said.
import { Bytes, ascii, same, sameBytes } from "./bytes";
import { Scanner } from "./json";

export const KIND_REQUEST: i32 = 1;
export const KIND_NOTIFICATION: i32 = 2;
export const KIND_RESPONSE: i32 = 3;   // a client's answer to a server request (no method)
export const KIND_INVALID: i32 = 4;     // not a JSON-RPC 2.0 message: -32600
export const KIND_BAD_PARAMS: i32 = 5;  // a known method without the field it needs: -32602

const K_JSONRPC = ascii("jsonrpc");
const K_METHOD = ascii("method");
const K_ID = ascii("id");
const K_PARAMS = ascii("params");
const K_RESULT = ascii("result");
const K_ERROR = ascii("error");
const K_NAME = ascii("name");
const K_URI = ascii("uri");
const V_20 = ascii("2.0");

export const M_TOOLS_CALL = ascii("tools/call");
export const M_TOOLS_LIST = ascii("tools/list");
export const M_PROMPTS_GET = ascii("prompts/get");
export const M_RESOURCES_READ = ascii("resources/read");
export const M_RESOURCES_SUBSCRIBE = ascii("resources/subscribe");
export const M_RESOURCES_UNSUBSCRIBE = ascii("resources/unsubscribe");

// Decoded strings larger than this are dropped when a pooled record is reused, so one huge
// request does not pin its memory for the life of the VM.
const KEEP_CAPACITY: i32 = 1024;
// At most this many Message records stay pooled between requests (larger batches allocate
// the rest each time), so a big batch pins at most about KEEP_MESSAGES * 3 * KEEP_CAPACITY.
const KEEP_MESSAGES: i32 = 64;

@inline function owned(b: Bytes): Bytes {
  if (b.buf.byteLength > KEEP_CAPACITY) return new Bytes(64);
  b.reset();
  return b;
}

/**
 * One JSON-RPC message of a body. Records are pooled (see Body): the decoded strings live in
 * buffers each record owns, and `method`/`tool`/`prompt`/`resource` point at them or are null.
 * They are valid until the next body is read; keep a copy to hold one longer.
 */
export class Message {
  kind: i32 = KIND_INVALID;
  reason: string = "";
  method: Bytes | null = null;
  // Raw JSON text of the id (echoed in replies); idTo == idFrom when there is none.
  idFrom: usize = 0;
  idTo: usize = 0;
  tool: Bytes | null = null;      // tools/call params.name
  prompt: Bytes | null = null;    // prompts/get params.name
  resource: Bytes | null = null;  // resources/read|subscribe|unsubscribe params.uri
  // Index of the deciding rule (-1: default action); set by the policy step.
  rule: i32 = -1;
  denied: bool = false;
  methodBuf: Bytes = new Bytes(32);
  nameBuf: Bytes = new Bytes(32);
  uriBuf: Bytes = new Bytes(32);

  hasId(): bool { return this.idTo > this.idFrom; }

  reset(): void {
    this.kind = KIND_INVALID;
    this.reason = "";
    this.method = null;
    this.idFrom = 0;
    this.idTo = 0;
    this.tool = null;
    this.prompt = null;
    this.resource = null;
    this.rule = -1;
    this.denied = false;
    this.methodBuf = owned(this.methodBuf);
    this.nameBuf = owned(this.nameBuf);
    this.uriBuf = owned(this.uriBuf);
  }
}

/** A request body: its messages in order. One record, reused for every body the VM reads. */
export class Body {
  batch: bool = false;
  count: i32 = 0;
  parseError: bool = false;
  errorOffset: i32 = 0;
  errorCode: i32 = 0;
  /** Messages in a batch that go beyond readBody's limit; their records are not kept. */
  excess: i32 = 0;
  private pool: Array<Message> = [];
  private spare: Message = new Message();

  @inline at(i: i32): Message { return unchecked(this.pool[i]); }

  reset(): void {
    this.batch = false;
    this.count = 0;
    this.parseError = false;
    this.errorOffset = 0;
    this.errorCode = 0;
    this.excess = 0;
    if (this.pool.length > KEEP_MESSAGES) this.pool.length = KEEP_MESSAGES;
  }

  /** The next message record, reset; past `limit` records, one spare record read and dropped. */
  next(limit: i32): Message {
    if (this.count >= limit) {
      this.excess++;
      this.spare.reset();
      return this.spare;
    }
    if (this.count == this.pool.length) this.pool.push(new Message());
    const m = unchecked(this.pool[this.count]);
    this.count++;
    m.reset();
    return m;
  }
}

const scanner = new Scanner();

// Keys readElement acts on; any other key's value is skipped.
const KEY_OTHER = 0;
const KEY_JSONRPC = 1;
const KEY_METHOD = 2;
const KEY_ID = 3;
const KEY_PARAMS = 4;
const KEY_ANSWER = 5; // result or error
const KEY_NAME = 6;
const KEY_URI = 7;

/** The key span is the `n` bytes at `k` (the caller has checked the length). */
@inline function keyIs(k: usize, n: i32): bool {
  return sameBytes(scanner.spanPtr, k, n);
}

/** Which key the scanner just read (decoded, so `"\u006d\u0065thod"` is method). By length first. */
function keyCode(inParams: bool): i32 {
  scanner.span();
  const n = scanner.spanLen;
  if (inParams) {
    if (n == 4 && keyIs(K_NAME.ptr, n)) return KEY_NAME;
    if (n == 3 && keyIs(K_URI.ptr, n)) return KEY_URI;
    return KEY_OTHER;
  }
  if (n == 2) return keyIs(K_ID.ptr, n) ? KEY_ID : KEY_OTHER;
  if (n == 6) {
    if (keyIs(K_METHOD.ptr, n)) return KEY_METHOD;
    if (keyIs(K_PARAMS.ptr, n)) return KEY_PARAMS;
    if (keyIs(K_RESULT.ptr, n)) return KEY_ANSWER;
    return KEY_OTHER;
  }
  if (n == 7) return keyIs(K_JSONRPC.ptr, n) ? KEY_JSONRPC : KEY_OTHER;
  if (n == 5) return keyIs(K_ERROR.ptr, n) ? KEY_ANSWER : KEY_OTHER;
  return KEY_OTHER;
}

const theBody = new Body();

/**
 * Reads a whole request body into the shared Body record (valid until the next call). On a
 * syntax error `parseError` is set and the messages are meaningless. A batch keeps at most
 * `maxBatch` message records; the rest are read (for syntax) and counted in `excess`.
 */
export function readBody(ptr: usize, len: i32, maxBatch: i32): Body {
  const s = scanner;
  const body = theBody;
  body.reset();
  s.reset(ptr, len);
  s.ws();
  const c = s.peek();
  if (c == 0x5b) {
    body.batch = true;
    s.pos++;
    if (!s.eat(0x5d)) {
      while (true) {
        s.ws();
        readElement(body.next(maxBatch));
        if (s.err != 0) break;
        if (s.eat(0x2c)) continue;
        s.expect(0x5d);
        break;
      }
    }
  } else {
    readElement(body.next(1));
  }
  if (s.err == 0) s.finish();
  if (s.err != 0) {
    body.parseError = true;
    body.errorCode = s.err;
    body.errorOffset = s.offset();
  }
  return body;
}

function readElement(m: Message): void {
  const s = scanner;
  if (s.peek() != 0x7b) {
    s.skipValue();
    m.reason = "a JSON-RPC message must be an object";
    return;
  }
  s.pos++;
  let jsonrpcOk = false;
  let methodSeen = false;
  let methodOk = false;
  let idSeen = false;
  let idOk = false;
  let paramsSeen = false;
  let paramsOk = false;
  let hasName = false;
  let hasUri = false;
  let nameSeen = false;
  let uriSeen = false;
  let answer = false;
  if (!s.eat(0x7d)) {
    while (true) {
      if (!s.key()) return;
      s.ws();
      const v = s.peek();
      const key = keyCode(false);
      if (key == KEY_JSONRPC) {
        jsonrpcOk = v == 0x22 && s.str() && s.strIs(V_20.ptr, V_20.len);
        if (v != 0x22 && !s.skipValue()) return;
      } else if (key == KEY_METHOD) {
        methodSeen = true;
        methodOk = v == 0x22;
        if (methodOk) { if (!s.str()) return; s.decodeInto(m.methodBuf); m.method = m.methodBuf; }
        else { m.method = null; if (!s.skipValue()) return; }
      } else if (key == KEY_ID) {
        idSeen = true;
        m.idFrom = s.pos;
        if (!s.skipValue()) return;
        idOk = v == 0x22 || v == 0x2d || (v >= 0x30 && v <= 0x39);
        // Only a string or number id is echoed back; anything else answers with id null.
        m.idTo = idOk ? s.pos : m.idFrom;
      } else if (key == KEY_PARAMS) {
        paramsSeen = true;
        paramsOk = v == 0x7b;
        hasName = false; hasUri = false; nameSeen = false; uriSeen = false;
        if (paramsOk) {
          const p = readParams(m);
          if (s.err != 0) return;
          hasName = p.hasName; hasUri = p.hasUri; nameSeen = p.nameSeen; uriSeen = p.uriSeen;
        } else if (!s.skipValue()) return;
      } else if (key == KEY_ANSWER) {
        answer = true;
        if (!s.skipValue()) return;
      } else if (!s.skipValue()) {
        return;
      }
      if (s.err != 0) return;
      if (s.eat(0x2c)) continue;
      if (!s.expect(0x7d)) return;
      break;
    }
  }
  classify(m, jsonrpcOk, methodSeen, methodOk, idSeen, idOk, paramsSeen, paramsOk, answer);
  if (m.kind == KIND_REQUEST || m.kind == KIND_NOTIFICATION) attachTarget(m, hasName, nameSeen, hasUri, uriSeen);
}

class Params {
  hasName: bool = false; // params.name is a string, decoded into the message's nameBuf
  hasUri: bool = false;  // params.uri is a string, decoded into uriBuf
  nameSeen: bool = false;
  uriSeen: bool = false;
}

// One record, reused: the VM runs one callback at a time and readElement copies it out at once.
const params = new Params();

function readParams(m: Message): Params {
  const s = scanner;
  const p = params;
  p.hasName = false; p.hasUri = false; p.nameSeen = false; p.uriSeen = false;
  s.pos++;
  if (s.eat(0x7d)) return p;
  while (true) {
    if (!s.key()) return p;
    s.ws();
    const v = s.peek();
    const key = keyCode(true);
    const isName = key == KEY_NAME;
    const isUri = key == KEY_URI;
    if (isName || isUri) {
      let isString = false;
      if (v == 0x22) {
        if (!s.str()) return p;
        if (isName) s.decodeInto(m.nameBuf); else s.decodeInto(m.uriBuf);
        isString = true;
      } else if (!s.skipValue()) return p;
      if (isName) { p.hasName = isString; p.nameSeen = true; } else { p.hasUri = isString; p.uriSeen = true; }
    } else if (!s.skipValue()) {
      return p;
    }
    if (s.eat(0x2c)) continue;
    s.expect(0x7d);
    return p;
  }
}

function classify(m: Message, jsonrpcOk: bool, methodSeen: bool, methodOk: bool, idSeen: bool, idOk: bool,
  paramsSeen: bool, paramsOk: bool, answer: bool): void {
  if (!jsonrpcOk) { m.reason = "jsonrpc must be \"2.0\""; return; }
  if (!methodSeen) {
    if (answer && idSeen) { m.kind = KIND_RESPONSE; return; }
    m.reason = "missing method";
    return;
  }
  if (!methodOk) { m.reason = "method must be a string"; return; }
  if (idSeen && !idOk) { m.reason = "id must be a string or a number"; return; }
  if (paramsSeen && !paramsOk) { m.reason = "params must be an object"; return; }
  m.kind = idSeen ? KIND_REQUEST : KIND_NOTIFICATION;
}

/** The tool, prompt or resource a method acts on; a known method without it is -32602. */
function attachTarget(m: Message, hasName: bool, nameSeen: bool, hasUri: bool, uriSeen: bool): void {
  const method = m.method as Bytes;
  if (same(method, M_TOOLS_CALL)) {
    if (!hasName) { bad(m, nameSeen ? "params.name must be a string" : "tools/call needs params.name"); return; }
    m.tool = m.nameBuf;
  } else if (same(method, M_PROMPTS_GET)) {
    if (!hasName) { bad(m, nameSeen ? "params.name must be a string" : "prompts/get needs params.name"); return; }
    m.prompt = m.nameBuf;
  } else if (same(method, M_RESOURCES_READ) || same(method, M_RESOURCES_SUBSCRIBE) || same(method, M_RESOURCES_UNSUBSCRIBE)) {
    if (!hasUri) { bad(m, uriSeen ? "params.uri must be a string" : "this method needs params.uri"); return; }
    m.resource = m.uriBuf;
  }
}

function bad(m: Message, reason: string): void {
  m.kind = KIND_BAD_PARAMS;
  m.reason = reason;
}
