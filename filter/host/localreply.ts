// A local reply as Envoy prepares it (source/common/http/utility.cc prepareLocalReply and
// encodeLocalReply): ":status", then the filter's extra headers (added as addCopy adds
// them, keys lowercased), then the HCM's local_reply_config rewrite
// (source/common/local_reply/local_reply.cc), then content-length and a content-type for a
// non-empty body: the mapper's when it replaced the body, else text/plain where the reply set
// none; an empty body sends neither. A gRPC request gets a trailers-only 200 with grpc-status
// and a percent-encoded grpc-message instead; a HEAD request gets no body.

import { HeaderList, HeaderMap } from "./headers";

export interface LocalReply {
  status: number;
  details: string;
  body: Buffer;
  headers: HeaderList;
  /** gRPC status the filter asked for, or -1 when it set none (C++/Rust SDKs pass -1). */
  grpcStatus: number;
}

export interface PreparedReply { headers: HeaderMap; body: Buffer; endWithHeaders: boolean }

/** LocalReply::rewrite: the status, body and content type after the first matching mapper; with
 *  none, Envoy's default body format keeps the body and says text/plain. */
export type LocalReplyMapper = (reply: { status: number; details: string; body: Buffer }) => { status: number; body: Buffer; contentType: string };

/** Grpc::Utility::httpToGrpcStatus */
export function httpToGrpcStatus(code: number): number {
  switch (code) {
    case 400: return 13;
    case 401: return 16;
    case 403: return 7;
    case 404: return 12;
    case 429: case 502: case 503: case 504: return 14;
    default: return 2;
  }
}

/** PercentEncoding::encode with "%" reserved: bytes < 0x20, >= 0x7e and '%' become %XX. */
function percentEncode(s: Buffer): string {
  let out = "";
  for (const b of s) out += b < 0x20 || b >= 0x7e || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(b);
  return out;
}

/** StringUtil::replaceAllEmptySpace, applied to the details Envoy records. */
export function detailsToken(details: string): string {
  return details.replace(/\s/g, "_");
}

/** grpc_status values Envoy forwards (0..16); anything else means "not set". */
export function validGrpcStatus(s: number): number | undefined {
  return s >= 0 && s <= 16 ? s : undefined;
}

export function prepareLocalReply(reply: LocalReply, isGrpc: boolean, isHead: boolean, map?: LocalReplyMapper): PreparedReply {
  const h = new HeaderMap("response");
  h.add(":status", String(reply.status));
  for (const [k, v] of reply.headers) h.add(k, v);
  const mapped = map?.(reply) ?? { status: reply.status, body: reply.body, contentType: "text/plain" };
  if (mapped.status !== reply.status) h.set(":status", String(mapped.status));
  const body = mapped.body;
  if (isGrpc) {
    h.set(":status", "200");
    h.set("content-type", "application/grpc");
    if (h.get("grpc-status") === undefined) {
      h.set("grpc-status", String(validGrpcStatus(reply.grpcStatus) ?? httpToGrpcStatus(mapped.status)));
    }
    if (body.length > 0 && !isHead) h.set("grpc-message", percentEncode(body));
    h.remove("content-length");
    return { headers: h, body: Buffer.alloc(0), endWithHeaders: true };
  }
  if (body.length > 0) {
    h.set("content-length", String(body.length));
    if (h.get("content-type") === undefined || !body.equals(reply.body)) h.set("content-type", mapped.contentType);
  } else {
    h.remove("content-length");
    h.remove("content-type");
  }
  const endWithHeaders = isHead || body.length === 0;
  return { headers: h, body: isHead ? Buffer.alloc(0) : body, endWithHeaders };
}

/** Grpc::Common::isGrpcRequestHeaders: content-type application/grpc, +suffix or ;params. */
export function isGrpcRequest(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  return contentType === "application/grpc" || contentType.startsWith("application/grpc+") || contentType.startsWith("application/grpc;");
}
