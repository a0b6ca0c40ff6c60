// The bench's first reference point: a proxy-wasm filter built like mcp_filter (same SDK,
// runtime and flags) that does nothing but continue. A request through it costs what any wasm
// filter costs in the emulator (context lifecycle, VM calls, the emulator's stream state).
export * from "./noop";
import { CONTINUE } from "./noop";

export function proxy_on_configure(_id: u32, _size: u32): u32 { return 1; }
export function proxy_on_request_headers(_id: u32, _n: u32, _end: u32): u32 { return CONTINUE; }
export function proxy_on_request_body(_id: u32, _size: u32, _end: u32): u32 { return CONTINUE; }
