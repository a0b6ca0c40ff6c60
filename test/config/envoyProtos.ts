// Envoy's API protos, loaded with protobufjs from the copies @grpc/grpc-js-xds ships.
// Those copies are about Envoy 1.30. envoy.yaml uses two newer fields; they are added below
// as an explicit overlay, so that everything else stays exactly as strict as the 1.30 API.
import * as fs from "fs";
import * as path from "path";
import * as protobuf from "protobufjs";

const nodeModules = path.resolve(__dirname, "..", "..", "node_modules");
const depsDir = path.join(nodeModules, "@grpc", "grpc-js-xds", "deps");

// Import roots, in lookup order. protobufjs carries google/protobuf/descriptor.proto itself;
// the other well-known types (any, duration, struct, wrappers, ...) are built into it.
const INCLUDE_DIRS = [
  path.join(depsDir, "envoy-api"),
  path.join(depsDir, "xds"),
  path.join(depsDir, "googleapis"),
  path.join(depsDir, "protoc-gen-validate"),
  path.join(nodeModules, "protobufjs"),
];

// Every message type envoy.yaml names in an `@type` must come from one of these files;
// an `@type` outside them fails validation instead of passing unchecked.
const ENTRY_FILES = [
  "envoy/config/bootstrap/v3/bootstrap.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/wasm/v3/wasm.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/access_loggers/stream/v3/stream.proto",
  "envoy/extensions/access_loggers/filters/cel/v3/cel.proto",
  "google/protobuf/wrappers.proto",
];

/** A field newer than the shipped protos, with the Envoy release that added it. */
export interface OverlayField {
  message: string;
  name: string;
  id: number;
  type: string;
  addedIn: string;
}

const WASM_PKG = "envoy.extensions.wasm.v3";

// envoy/extensions/wasm/v3/wasm.proto as of Envoy 1.35+. Only fields envoy.yaml uses are
// added; reload_config (field 8, Envoy 1.33) stays unknown because nothing needs it.
export const FAILURE_POLICY_VALUES: Record<string, number> = {
  UNSPECIFIED: 0,
  FAIL_RELOAD: 1,
  FAIL_CLOSED: 2,
  FAIL_OPEN: 3,
};

export const OVERLAY_FIELDS: OverlayField[] = [
  {
    message: `${WASM_PKG}.PluginConfig`,
    name: "failure_policy",
    id: 7,
    type: `${WASM_PKG}.FailurePolicy`,
    addedIn: "Envoy 1.33 (January 2025)",
  },
  {
    message: `${WASM_PKG}.PluginConfig`,
    name: "allow_on_headers_stop_iteration",
    id: 9,
    type: "google.protobuf.BoolValue",
    addedIn: "Envoy 1.35 (July 2025)",
  },
];

function applyOverlay(root: protobuf.Root): void {
  const pkg = root.lookup(WASM_PKG);
  if (!(pkg instanceof protobuf.Namespace)) throw new Error(`package ${WASM_PKG} not loaded`);
  if (pkg.get("FailurePolicy") === null) {
    pkg.add(new protobuf.Enum("FailurePolicy", FAILURE_POLICY_VALUES));
  }
  for (const f of OVERLAY_FIELDS) {
    const type = root.lookupType(f.message);
    if (type.fields[f.name] !== undefined || type.fieldsById[f.id] !== undefined) {
      // The shipped protos caught up: the overlay entry is now redundant and must go.
      throw new Error(`${f.message}.${f.name} (field ${f.id}) already exists; remove it from the overlay`);
    }
    const field = new protobuf.Field(f.name, f.id, f.type);
    type.add(field);
    // loadSync already resolved the tree; a field added afterwards resolves on its own.
    field.resolve();
  }
}

let cached: protobuf.Root | undefined;

/** The Envoy API as protobufjs types, proto field names kept (snake_case). */
export function loadEnvoyApi(): protobuf.Root {
  if (cached) return cached;
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string => {
    if (path.isAbsolute(target)) return target;
    for (const dir of INCLUDE_DIRS) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    // Bundled well-known types resolve by name inside protobufjs.
    return target;
  };
  root.loadSync(ENTRY_FILES, { keepCase: true });
  applyOverlay(root);
  root.resolveAll();
  cached = root;
  return root;
}

export const BOOTSTRAP_TYPE = "envoy.config.bootstrap.v3.Bootstrap";
