// A local reply as Envoy prepares it (source/common/http/utility.cc prepareLocalReply and
// encodeLocalReply): ":status", then the filter's extra headers (added as addCopy adds
// them, keys lowercased), then content-length and a text/plain content-type for a non-empty
// body; an empty body sends neither. A gRPC request gets a trailers-only 200 with
// grpc-status and a percent-encoded grpc-message instead; a HEAD request gets no body.

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

export function prepareLocalReply(reply: LocalReply, isGrpc: boolean, isHead: boolean): PreparedReply {
  const h = new HeaderMap("response");
  h.add(":status", String(reply.status));
  for (const [k, v] of reply.headers) h.add(k, v);
  if (isGrpc) {
    h.set(":status", "200");
    h.set("content-type", "application/grpc");
    if (h.get("grpc-status") === undefined) {
      h.set("grpc-status", String(validGrpcStatus(reply.grpcStatus) ?? httpToGrpcStatus(reply.status)));
    }
    if (reply.body.length > 0 && !isHead) h.set("grpc-message", percentEncode(reply.body));
    h.remove("content-length");
    return { headers: h, body: Buffer.alloc(0), endWithHeaders: true };
  }
  if (reply.body.length > 0) {
    h.set("content-length", String(reply.body.length));
    if (h.get("content-type") === undefined) h.set("content-type", "text/plain");
  } else {
    h.remove("content-length");
    h.remove("content-type");
  }
  const endWithHeaders = isHead || reply.body.length === 0;
  return { headers: h, body: isHead ? Buffer.alloc(0) : reply.body, endWithHeaders };
}

/** Grpc::Common::isGrpcRequestHeaders: content-type application/grpc, +suffix or ;params. */
export function isGrpcRequest(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  return contentType === "application/grpc" || contentType.startsWith("application/grpc+") || contentType.startsWith("application/grpc;");
}
