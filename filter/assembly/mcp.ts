// JSON-RPC / MCP facts of a request body, read with the scanner.
// Duplicate keys: the last occurrence wins, as in JSON.parse, for every key that
// decides anything (jsonrpc, method, id, params, params.name, params.uri); a later
// `params` replaces everything an earlier one said.
import { Bytes, ascii, equalsAt, Scanner, keyCode } from "./abi";
import { Fields } from "./policy";
import { TargetKind, PARAM_NAME, targetMethod } from "./targets";

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

// Decoded strings larger than this are dropped when a pooled record is reused, so one huge
// request does not pin its memory for the life of the VM.
const KEEP_CAPACITY: i32 = 1024;
// At most this many Message records stay pooled between requests (larger batches allocate
// the rest each time), so a big batch pins at most about KEEP_MESSAGES * 3 * KEEP_CAPACITY.
const KEEP_MESSAGES: i32 = 64;

/**
 * One JSON-RPC message of a body. Records are pooled (see Body): the decoded strings live in
 * buffers each record owns, and `method` points at one or is null, as `target` says whether
 * the message acts on a tool, resource or prompt (targetName()). They are valid until the next
 * body is read; keep a copy to hold one longer.
 */
export class Message {
  kind: i32 = KIND_INVALID;
  reason: string = "";
  method: Bytes | null = null;
  // Raw JSON text of the id (echoed in replies); idTo == idFrom when there is none.
  idFrom: usize = 0;
  idTo: usize = 0;
  /** What the method acts on (targets.ts), or null. */
  target: TargetKind | null = null;
  // Index of the deciding rule (-1: default action); set by the policy step.
  rule: i32 = -1;
  denied: bool = false;
  // Index of the limit the call was over (-1: none), and when it may be tried again; set by the limits step.
  limit: i32 = -1;
  retryAfterMs: i64 = 0;
  methodBuf: Bytes = new Bytes(32);
  nameBuf: Bytes = new Bytes(32);
  uriBuf: Bytes = new Bytes(32);

  hasId(): bool { return this.idTo > this.idFrom; }

  reset(): void {
    // Reference fields are assigned only when they change: each assignment costs reference
    // counting (AssemblyScript 0.17), and this runs for every message.
    this.kind = KIND_INVALID;
    if (this.reason.length != 0) this.reason = "";
    if (this.method !== null) this.method = null;
    this.idFrom = 0;
    this.idTo = 0;
    if (this.target !== null) this.target = null;
    this.rule = -1;
    this.denied = false;
    this.limit = -1;
    if (!this.methodBuf.recycle(KEEP_CAPACITY)) this.methodBuf = new Bytes(64);
    if (!this.nameBuf.recycle(KEEP_CAPACITY)) this.nameBuf = new Bytes(64);
    if (!this.uriBuf.recycle(KEEP_CAPACITY)) this.uriBuf = new Bytes(64);
  }

  /** The decoded name of the target (params.name or params.uri); meaningful when target is set. */
  targetName(): Bytes {
    if (this.target !== null && (this.target as TargetKind).param == PARAM_NAME) return this.nameBuf;
    return this.uriBuf;
  }

  /** Puts this message's method and target, and the user (`n` bytes at `user`), in `f` for Policy#decide. */
  describe(f: Fields, user: usize, n: i32): void {
    f.reset(user, n);
    if (this.method !== null) { f.methodPtr = this.methodBuf.ptr; f.methodLen = this.methodBuf.len; }
    if (this.target !== null) {
      f.targetKind = (this.target as TargetKind).id;
      const name = this.targetName();
      f.targetPtr = name.ptr; f.targetLen = name.len;
    }
  }

  /** Sets kind (or reason) from what the reader saw. */
  classify(jsonrpcOk: bool, methodSeen: bool, methodOk: bool, idSeen: bool, idOk: bool,
    paramsSeen: bool, paramsOk: bool, answer: bool): void {
    if (!jsonrpcOk) { this.reason = "jsonrpc must be \"2.0\""; return; }
    if (!methodSeen) {
      if (answer && idSeen) { this.kind = KIND_RESPONSE; return; }
      this.reason = "missing method";
      return;
    }
    if (!methodOk) { this.reason = "method must be a string"; return; }
    if (idSeen && !idOk) { this.reason = "id must be a string or a number"; return; }
    if (paramsSeen && !paramsOk) { this.reason = "params must be an object"; return; }
    this.kind = idSeen ? KIND_REQUEST : KIND_NOTIFICATION;
  }

  /** The target the method acts on (targets.ts); a method with one but without its params member is -32602. */
  attachTarget(params: i32): void {
    const t = targetMethod(this.methodBuf.ptr, this.methodBuf.len);
    if (t === null) return;
    const kind = t.kind;
    const named = kind.param == PARAM_NAME ? P_NAME : P_URI;
    const seen = kind.param == PARAM_NAME ? P_NAME_SEEN : P_URI_SEEN;
    // No `a ? "x" : "y"` string arguments here: AssemblyScript 0.17 may release the wrong local
    // for them once Binaryen has merged locals (it did here before, a reference-count trap).
    if ((params & named) != 0) { this.target = kind; return; }
    if ((params & seen) != 0) this.bad(kind.notString()); else this.bad(t.missing());
  }

  private bad(reason: string): void {
    this.kind = KIND_BAD_PARAMS;
    this.reason = reason;
  }
}

/**
 * Reads JSON-RPC messages: the JSON scanner, with what it takes to read a message into a
 * Message record. Reading is done by its own methods: AssemblyScript 0.17 reference-counts
 * every reference argument and local, but not `this`, and these run for every message.
 */
class MessageReader extends Scanner {
  /** Reads one element of a batch (or the whole body) at the scanner's cursor. */
  read(m: Message): void {
    if (this.peek() != 0x7b) {
      this.skipValue();
      m.reason = "a JSON-RPC message must be an object";
      return;
    }
    this.pos++;
    let jsonrpcOk = false;
    let methodSeen = false;
    let methodOk = false;
    let idSeen = false;
    let idOk = false;
    let paramsSeen = false;
    let paramsOk = false;
    let params = 0; // P_* bits of the last params object
    let answer = false;
    if (!this.eat(0x7d)) {
      while (true) {
        if (!this.key()) return;
        this.ws();
        const v = this.peek();
        const key = this.keyOf(false);
        if (key == KEY_JSONRPC) {
          jsonrpcOk = v == 0x22 && this.str() && this.strIs(V_20.ptr, V_20.len);
          if (v != 0x22 && !this.skipValue()) return;
        } else if (key == KEY_METHOD) {
          methodSeen = true;
          methodOk = v == 0x22;
          if (methodOk) { if (!this.str()) return; m.methodBuf.jsonFrom(this.sFrom, this.sTo); m.method = m.methodBuf; }
          else { m.method = null; if (!this.skipValue()) return; }
        } else if (key == KEY_ID) {
          idSeen = true;
          m.idFrom = this.pos;
          if (!this.skipValue()) return;
          idOk = v == 0x22 || v == 0x2d || (v >= 0x30 && v <= 0x39);
          // Only a string or number id is echoed back; anything else answers with id null.
          m.idTo = idOk ? this.pos : m.idFrom;
        } else if (key == KEY_PARAMS) {
          paramsSeen = true;
          paramsOk = v == 0x7b;
          params = 0;
          if (paramsOk) {
            params = this.readParams(m);
            if (this.err != 0) return;
          } else if (!this.skipValue()) return;
        } else if (key == KEY_ANSWER) {
          answer = true;
          if (!this.skipValue()) return;
        } else if (!this.skipValue()) {
          return;
        }
        if (this.err != 0) return;
        if (this.eat(0x2c)) continue;
        if (!this.expect(0x7d)) return;
        break;
      }
    }
    m.classify(jsonrpcOk, methodSeen, methodOk, idSeen, idOk, paramsSeen, paramsOk, answer);
    if (m.kind == KIND_REQUEST || m.kind == KIND_NOTIFICATION) m.attachTarget(params);
  }

  /** Reads a params object; returns P_* bits. */
  private readParams(m: Message): i32 {
    let bits = 0;
    this.pos++;
    if (this.eat(0x7d)) return bits;
    while (true) {
      if (!this.key()) return bits;
      this.ws();
      const v = this.peek();
      const key = this.keyOf(true);
      if (key == KEY_NAME || key == KEY_URI) {
        const isName = key == KEY_NAME;
        let isString = false;
        if (v == 0x22) {
          if (!this.str()) return bits;
          // Decoded through the buffer's own method: a Bytes argument would be reference-counted.
          if (isName) m.nameBuf.jsonFrom(this.sFrom, this.sTo);
          else m.uriBuf.jsonFrom(this.sFrom, this.sTo);
          isString = true;
        } else if (!this.skipValue()) return bits;
        // The last occurrence decides, as in JSON.parse.
        if (isName) bits = (bits & ~P_NAME) | P_NAME_SEEN | (isString ? P_NAME : 0);
        else bits = (bits & ~P_URI) | P_URI_SEEN | (isString ? P_URI : 0);
      } else if (!this.skipValue()) {
        return bits;
      }
      if (this.eat(0x2c)) continue;
      this.expect(0x7d);
      return bits;
    }
  }

  /** Which key the scanner just read (decoded, so `"\u006d\u0065thod"` is method). */
  private keyOf(inParams: bool): i32 {
    const v = this.packedKey();
    if (inParams) {
      if (v == P_NAME_KEY) return KEY_NAME;
      if (v == P_URI_KEY) return KEY_URI;
      return KEY_OTHER;
    }
    if (v == P_ID) return KEY_ID;
    if (v == P_METHOD) return KEY_METHOD;
    if (v == P_PARAMS) return KEY_PARAMS;
    if (v == P_RESULT || v == P_ERROR) return KEY_ANSWER;
    if (v == P_JSONRPC) return KEY_JSONRPC;
    return KEY_OTHER;
  }
}

/** A request body: its messages in order. One record, reused for every body its owner reads. */
export class Body {
  batch: bool = false;
  count: i32 = 0;
  parseError: bool = false;
  errorOffset: i32 = 0;
  errorCode: i32 = 0;
  /** Messages in a batch that go beyond read()'s limit; their records are not kept. */
  excess: i32 = 0;
  private scanner: MessageReader = new MessageReader();
  private pool: Array<Message> = [];
  private spare: Message = new Message();

  @inline at(i: i32): Message { return this.pool[i]; }

  /**
   * Reads a whole request body, the `len` bytes at `ptr` (valid until the next read). On a
   * syntax error `parseError` is set and the messages are meaningless. A batch keeps at most
   * `maxBatch` message records; the rest are read (for syntax) and counted in `excess`. The
   * scanner is used through this.scanner, not a local: locals cost reference counting.
   */
  read(ptr: usize, len: i32, maxBatch: i32): void {
    this.reset();
    this.scanner.reset(ptr, len);
    this.scanner.ws();
    if (this.scanner.peek() == 0x5b) {
      this.batch = true;
      this.scanner.pos++;
      if (!this.scanner.eat(0x5d)) {
        while (true) {
          this.scanner.ws();
          this.readNext(maxBatch);
          if (this.scanner.err != 0) break;
          if (this.scanner.eat(0x2c)) continue;
          this.scanner.expect(0x5d);
          break;
        }
      }
    } else {
      this.readNext(1);
    }
    if (this.scanner.err == 0) this.scanner.finish();
    if (this.scanner.err != 0) {
      this.parseError = true;
      this.errorCode = this.scanner.err;
      this.errorOffset = this.scanner.offset();
    }
  }

  private reset(): void {
    this.batch = false;
    this.count = 0;
    this.parseError = false;
    this.errorOffset = 0;
    this.errorCode = 0;
    this.excess = 0;
    if (this.pool.length > KEEP_MESSAGES) this.pool.length = KEEP_MESSAGES;
  }

  /** Reads the next message into a pooled record; past `limit` records, into one spare record that is dropped. */
  private readNext(limit: i32): void {
    if (this.count >= limit) {
      this.excess++;
      this.spare.reset();
      this.scanner.read(this.spare);
      return;
    }
    if (this.count == this.pool.length) this.pool.push(new Message());
    const m = this.pool[this.count];
    this.count++;
    m.reset();
    this.scanner.read(m);
  }
}

// Keys Message#read acts on; any other key's value is skipped.
const KEY_OTHER = 0;
const KEY_JSONRPC = 1;
const KEY_METHOD = 2;
const KEY_ID = 3;
const KEY_PARAMS = 4;
const KEY_ANSWER = 5; // result or error
const KEY_NAME = 6;
const KEY_URI = 7;

// The keys readers act on, as Scanner#packedKey() reads them.
const P_ID = keyCode(K_ID);
const P_URI_KEY = keyCode(K_URI);
const P_NAME_KEY = keyCode(K_NAME);
const P_ERROR = keyCode(K_ERROR);
const P_METHOD = keyCode(K_METHOD);
const P_PARAMS = keyCode(K_PARAMS);
const P_RESULT = keyCode(K_RESULT);
const P_JSONRPC = keyCode(K_JSONRPC);

// readParams() result bits.
const P_NAME: i32 = 1;      // params.name is a string, decoded into nameBuf
const P_URI: i32 = 2;       // params.uri is a string, decoded into uriBuf
const P_NAME_SEEN: i32 = 4;
const P_URI_SEEN: i32 = 8;
