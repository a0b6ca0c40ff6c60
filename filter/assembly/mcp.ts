// JSON-RPC / MCP facts of a request body, read with the scanner.
// Duplicate keys: the last occurrence wins, as in JSON.parse, for every key that
// decides anything (jsonrpc, method, id, params, params.name, params.uri); a later
// `params` replaces everything an earlier one said.
import { Bytes, ascii, same } from "./bytes";
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

  hasId(): bool { return this.idTo > this.idFrom; }
}

export class Body {
  batch: bool = false;
  messages: Array<Message> = [];
  parseError: bool = false;
  errorOffset: i32 = 0;
  errorCode: i32 = 0;
}

const scratch = new Bytes(64);

/** Reads a whole request body. On a syntax error `parseError` is set and messages are meaningless. */
export function readBody(s: Scanner, ptr: usize, len: i32): Body {
  const body = new Body();
  s.reset(ptr, len);
  s.ws();
  const c = s.peek();
  if (c == 0x5b) {
    body.batch = true;
    s.pos++;
    if (!s.eat(0x5d)) {
      while (true) {
        s.ws();
        body.messages.push(readElement(s));
        if (s.err != 0) break;
        if (s.eat(0x2c)) continue;
        s.expect(0x5d);
        break;
      }
    }
  } else {
    body.messages.push(readElement(s));
  }
  if (s.err == 0) s.finish();
  if (s.err != 0) {
    body.parseError = true;
    body.errorCode = s.err;
    body.errorOffset = s.offset();
  }
  return body;
}

function readElement(s: Scanner): Message {
  const m = new Message();
  if (s.peek() != 0x7b) {
    s.skipValue();
    m.reason = "a JSON-RPC message must be an object";
    return m;
  }
  s.pos++;
  let jsonrpcOk = false;
  let methodSeen = false;
  let methodOk = false;
  let idSeen = false;
  let idOk = false;
  let paramsSeen = false;
  let paramsOk = false;
  let name: Bytes | null = null;
  let uri: Bytes | null = null;
  let nameSeen = false;
  let uriSeen = false;
  let answer = false;
  if (!s.eat(0x7d)) {
    while (true) {
      if (!s.key()) return m;
      s.ws();
      const v = s.peek();
      if (s.strIs(K_JSONRPC, scratch)) {
        jsonrpcOk = v == 0x22 && s.str() && s.strIs(V_20, scratch);
        if (v != 0x22 && !s.skipValue()) return m;
      } else if (s.strIs(K_METHOD, scratch)) {
        methodSeen = true;
        methodOk = v == 0x22;
        if (methodOk) { if (!s.str()) return m; m.method = s.decoded(); }
        else { m.method = null; if (!s.skipValue()) return m; }
      } else if (s.strIs(K_ID, scratch)) {
        idSeen = true;
        m.idFrom = s.pos;
        if (!s.skipValue()) return m;
        idOk = v == 0x22 || v == 0x2d || (v >= 0x30 && v <= 0x39);
        // Only a string or number id is echoed back; anything else answers with id null.
        m.idTo = idOk ? s.pos : m.idFrom;
      } else if (s.strIs(K_PARAMS, scratch)) {
        paramsSeen = true;
        paramsOk = v == 0x7b;
        name = null; uri = null; nameSeen = false; uriSeen = false;
        if (paramsOk) {
          const p = readParams(s);
          if (s.err != 0) return m;
          name = p.name; uri = p.uri; nameSeen = p.nameSeen; uriSeen = p.uriSeen;
        } else if (!s.skipValue()) return m;
      } else if (s.strIs(K_RESULT, scratch) || s.strIs(K_ERROR, scratch)) {
        answer = true;
        if (!s.skipValue()) return m;
      } else if (!s.skipValue()) {
        return m;
      }
      if (s.err != 0) return m;
      if (s.eat(0x2c)) continue;
      if (!s.expect(0x7d)) return m;
      break;
    }
  }
  classify(m, jsonrpcOk, methodSeen, methodOk, idSeen, idOk, paramsSeen, paramsOk, answer);
  if (m.kind == KIND_REQUEST || m.kind == KIND_NOTIFICATION) attachTarget(m, name, nameSeen, uri, uriSeen);
  return m;
}

class Params {
  name: Bytes | null = null;
  uri: Bytes | null = null;
  nameSeen: bool = false;
  uriSeen: bool = false;
}

// One record, reused: the VM runs one callback at a time and readElement copies it out at once.
const params = new Params();

function readParams(s: Scanner): Params {
  const p = params;
  p.name = null; p.uri = null; p.nameSeen = false; p.uriSeen = false;
  s.pos++;
  if (s.eat(0x7d)) return p;
  while (true) {
    if (!s.key()) return p;
    s.ws();
    const v = s.peek();
    const isName = s.strIs(K_NAME, scratch);
    const isUri = !isName && s.strIs(K_URI, scratch);
    if (isName || isUri) {
      let val: Bytes | null = null;
      if (v == 0x22) { if (!s.str()) return p; val = s.decoded(); }
      else if (!s.skipValue()) return p;
      if (isName) { p.name = val; p.nameSeen = true; } else { p.uri = val; p.uriSeen = true; }
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
function attachTarget(m: Message, name: Bytes | null, nameSeen: bool, uri: Bytes | null, uriSeen: bool): void {
  const method = m.method as Bytes;
  if (same(method, M_TOOLS_CALL)) {
    if (name === null) { bad(m, nameSeen ? "params.name must be a string" : "tools/call needs params.name"); return; }
    m.tool = name;
  } else if (same(method, M_PROMPTS_GET)) {
    if (name === null) { bad(m, nameSeen ? "params.name must be a string" : "prompts/get needs params.name"); return; }
    m.prompt = name;
  } else if (same(method, M_RESOURCES_READ) || same(method, M_RESOURCES_SUBSCRIBE) || same(method, M_RESOURCES_UNSUBSCRIBE)) {
    if (uri === null) { bad(m, uriSeen ? "params.uri must be a string" : "this method needs params.uri"); return; }
    m.resource = uri;
  }
}

function bad(m: Message, reason: string): void {
  m.kind = KIND_BAD_PARAMS;
  m.reason = reason;
}
