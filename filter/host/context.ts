// Host side of a proxy-wasm context: what the host functions reach through
// contextOrEffectiveContext(). The root context answers like Envoy's root Context, which
// has no stream: no header maps, empty bodies, no stream info (Envoy context.cc getMap,
// getBuffer, getProperty). HttpStream (stream.ts) overrides the stream parts.

import { ByteBuffer } from "./bytes";
import { BufferType, WasmResult } from "./constants";
import { HeaderMap } from "./headers";
import type { WasmVm } from "./vm";

/** proxy_wasm::BufferInterface */
export interface BufferRef {
  size(): number;
  bytes(start: number, length: number): Uint8Array;
  copyFrom(start: number, length: number, data: Uint8Array): number;
}

/** BufferBase over constant bytes: readable, setting is BadArgument (context.h). */
export class ConstBuffer implements BufferRef {
  static readonly EMPTY = new ConstBuffer(Buffer.alloc(0));
  constructor(private readonly data: Uint8Array) {}
  size(): number {
    return this.data.length;
  }
  bytes(start: number, length: number): Uint8Array {
    return this.data.subarray(start, start + length);
  }
  copyFrom(): number {
    return WasmResult.BadArgument;
  }
}

/** Envoy's Buffer over a body Buffer::Instance (context.cc Buffer::copyFrom). */
export class BodyBuffer implements BufferRef {
  constructor(private readonly b: ByteBuffer) {}
  size(): number {
    return this.b.length;
  }
  bytes(start: number, length: number): Uint8Array {
    return this.b.range(start, length);
  }
  /** start 0: drain `length` bytes then prepend; start >= size: append; else BadArgument. */
  copyFrom(start: number, length: number, data: Uint8Array): number {
    if (start === 0) {
      if (length !== 0) this.b.drain(length);
      this.b.prepend(data);
      return WasmResult.Ok;
    }
    if (start >= this.b.length) {
      this.b.append(data);
      return WasmResult.Ok;
    }
    return WasmResult.BadArgument;
  }
}

export type PropertyValue = { result: number; value?: Uint8Array };

export class BaseContext {
  /** True while Envoy's access-log callback (proxy_on_log) runs. */
  accessLogPhase = false;
  /** temp_plugin_ is set: the plugin configuration buffer is readable. */
  pluginConfigVisible = false;
  /** VM context created inside the module (proxy_on_context_create called). */
  created = false;

  constructor(readonly vm: WasmVm, readonly id: number, readonly isRoot: boolean) {}

  /** The root context this one belongs to (root_context() in proxy-wasm-cpp-host). */
  root(): BaseContext {
    return this.vm.rootContext ?? this;
  }

  /** Header map for the ABI map type; null when Envoy has none (-> BadArgument). */
  headerMap(_type: number, _mutable: boolean): HeaderMap | null {
    return null;
  }

  onHeadersModified(_type: number): void {}

  /** getBuffer(); null -> NotFound. */
  buffer(type: number): BufferRef | null {
    switch (type) {
      case BufferType.VmConfiguration:
        return new ConstBuffer(this.vm.core.opts.vmConfig);
      case BufferType.PluginConfiguration:
        return this.pluginConfigVisible ? new ConstBuffer(this.vm.core.opts.pluginConfig) : null;
      case BufferType.HttpCallResponseBody:
        return null;
      default:
        return ConstBuffer.EMPTY;
    }
  }

  /** Context::findValue tokens any context answers; stream attributes live in HttpStream. */
  property(parts: string[]): PropertyValue {
    if (parts.length === 0) return { result: WasmResult.SerializationFailure };
    const o = this.vm.core.opts;
    const top: Record<string, string> = { plugin_name: o.pluginName, plugin_root_id: o.rootId, plugin_vm_id: o.vmId };
    const v = top[parts[0]];
    if (v === undefined || parts.length > 1) return { result: WasmResult.NotFound };
    return { result: WasmResult.Ok, value: Buffer.from(v, "utf8") };
  }

  /** No stream info outside a stream: NotFound (Context::setProperty). */
  setProperty(_name: string, _value: Uint8Array): number {
    return WasmResult.NotFound;
  }

  /** Without decoder callbacks Envoy queues nothing and still answers Ok. */
  sendLocalResponse(_status: number, _body: Buffer, _headers: Array<[string, string]>, _grpc: number, _details: string): void {}

  continueStream(_type: number): void {}

  closeStream(_type: number): void {}

  clearRouteCache(): void {}
}
