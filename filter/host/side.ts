// State of one direction of a stream in Envoy's filter manager around the wasm filter
// (source/common/http/filter_manager.cc, ActiveStreamFilterBase): what the filter can
// see, what is paused, what the filter manager buffers, and what already went on to the
// next hop (the router for requests, the client for responses).

import { ByteBuffer } from "./bytes";
import { HeaderList, HeaderMap } from "./headers";

/**
 * What the next hop received. Body data is kept by reference, chunk by chunk, as Envoy moves
 * buffers on rather than copying them; it is joined only when read.
 */
export class Output {
  /** The headers as they were released; later changes to the map do not reach the next hop. */
  headers?: HeaderList;
  ended = false;
  trailers?: HeaderList;
  private readonly chunks: Uint8Array[] = [];

  append(data: Uint8Array): void {
    if (data.length > 0) this.chunks.push(data);
  }

  bodyBuffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export class Side {
  /** The map object Envoy's connection manager holds (also what access logging reads). */
  live: HeaderMap | null = null;
  /** request_headers_/response_headers_: what the filter can reach; null once continued. */
  map: HeaderMap | null = null;
  liveTrailers: HeaderMap | null = null;
  /** request_trailers_/response_trailers_ */
  trailers: HeaderMap | null = null;
  /** request_body_buffer_/response_body_buffer_: the chunk of the current callback. */
  chunk: ByteBuffer | null = null;
  /** The filter manager's buffered data for this filter. */
  buffered: ByteBuffer | null = null;
  /** buffering_request_body_: the last body callback returned StopIterationAndBuffer. */
  buffering = false;
  /** Iteration stopped at this filter (IterationState::StopSingleIteration). */
  stopped = false;
  /** StopAllIterationAndBuffer/Watermark: nothing, not even data, reaches the filter. */
  stopAll = false;
  /** The buffered data is under flow control (watermark) rather than the 413/500 limit. */
  streaming = false;
  /** Trailers that arrived while stopAll; the filter has not seen them yet. */
  trailersPending = false;
  headersIn = false;
  headersOut = false;
  trailersOut = false;
  /** The downstream side sent everything (end_stream or trailers). */
  complete = false;
  /** Nothing more may pass on (local reply sent, stream reset). */
  aborted = false;
  readonly out = new Output();

  constructor(readonly request: boolean) {}

  hasTrailers(): boolean {
    return this.liveTrailers !== null;
  }

  /** End of stream for data passed on now: complete and no trailers to follow. */
  dataEnds(): boolean {
    return this.complete && !this.hasTrailers();
  }

  appendBuffered(data: Uint8Array): void {
    if (!this.buffered) this.buffered = new ByteBuffer();
    this.buffered.append(data);
  }
}
