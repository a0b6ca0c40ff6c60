// Proxy-wasm host emulator with Envoy's semantics, for running the filter's .wasm in tests and
// the local gateway (performance is measured in real Envoy: npm run bench:envoy). See host.ts
// for the plugin lifecycle, stream.ts for the stream, abi.ts for Envoy's import table.

export { ProxyWasmHost } from "./host";
export { HttpContext } from "./stream";
export type { StreamListener, Received, StreamMode } from "./stream";
export type { HostOptions, LogEntry, FailurePolicy } from "./core";
export type { LogLevel } from "./constants";
export type { HeaderList } from "./headers";
export type { LocalReply, LocalReplyMapper } from "./localreply";
export { NO_STATUS, WasmResult, FilterHeadersStatus, FilterDataStatus, FilterTrailersStatus, BufferType, HeaderMapType, StreamType, MetricType } from "./constants";
export { SharedDataStore } from "./shared-data";
export type { SharedValue } from "./shared-data";
export { checkModule, envoyImportTable, envoyExportTable } from "./abi";
export type { AbiVersion } from "./abi";
