// What both reference filters share: mcp_filter's allocator and exported callbacks (the
// root-context ones from proxy-runtime), and the stream callbacks neither does anything in.
// Each filter adds its own configure, request headers and request body callbacks.
export { free } from "@solo-io/proxy-runtime/malloc";
export { malloc } from "../../assembly/host";
export { proxy_abi_version_0_2_0, proxy_on_vm_start, proxy_validate_configuration } from "@solo-io/proxy-runtime/exports";
import { RootContext, registerRootContext } from "@solo-io/proxy-runtime";
import { ensureRootContext } from "@solo-io/proxy-runtime/runtime";

export const CONTINUE: u32 = 0;

export function proxy_on_context_create(id: u32, rootId: u32): void { if (rootId == 0) ensureRootContext(id); }
export function proxy_on_request_trailers(_id: u32, _n: u32): u32 { return CONTINUE; }
export function proxy_on_response_headers(_id: u32, _n: u32, _end: u32): u32 { return CONTINUE; }
export function proxy_on_response_body(_id: u32, _size: u32, _end: u32): u32 { return CONTINUE; }
export function proxy_on_response_trailers(_id: u32, _n: u32): u32 { return CONTINUE; }
export function proxy_on_done(_id: u32): u32 { return 1; }
export function proxy_on_delete(_id: u32): void {}

registerRootContext((id: u32): RootContext => new RootContext(id), "mcp_filter");
