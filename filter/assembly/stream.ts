// A stream context: its request side judges a POST body once it is whole and answers refusals
// itself; its response side rewrites the answer to a tools/list. Everything else streams
// through untouched.
import { Context, FilterHeadersStatusValues, FilterDataStatusValues, FilterTrailersStatusValues } from "./abi";
import { Shared, SharedRoot } from "./shared";
import { RequestSide } from "./request";
import { ResponseSide } from "./response";

export class McpStream extends Context {
  private request: RequestSide;
  private response: ResponseSide;

  constructor(id: u32, root: SharedRoot, shared: Shared) {
    super(id, root);
    this.request = new RequestSide(shared);
    this.response = new ResponseSide(shared, this.request.audit);
  }

  /** Readies this finished stream (see abi/streams.ts) for context `id` of `root`, which serves streams. */
  reuse(id: u32, root: SharedRoot): void {
    this.context_id = id;
    if (this.root_context !== root) this.root_context = root;
    this.request.reuse(root.shared as Shared);
    this.response.reuse(root.shared as Shared);
  }

  onRequestHeaders(_n: u32, endOfStream: bool): FilterHeadersStatusValues { return this.request.onHeaders(endOfStream); }
  onRequestBody(size: usize, endOfStream: bool): FilterDataStatusValues { return this.request.onBody(size, endOfStream); }
  onRequestTrailers(_n: u32): FilterTrailersStatusValues { return this.request.onTrailers(); }

  onResponseHeaders(_n: u32, endOfStream: bool): FilterHeadersStatusValues {
    return this.response.onHeaders(this.request.answer(), endOfStream);
  }
  onResponseBody(size: usize, endOfStream: bool): FilterDataStatusValues { return this.response.onBody(size, endOfStream); }
  onResponseTrailers(_n: u32): FilterTrailersStatusValues { return this.response.onTrailers(); }

  onDone(): bool { return true; }
  onDelete(): void {}
  onLog(): void {}
}
