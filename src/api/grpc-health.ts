// The standard gRPC health service (grpc.health.v1.Health), answered by
// grpc-health-check but loaded on the first health call, not at start:
// importing it loads @grpc/proto-loader and protobufjs and parses health.proto,
// about an eighth of a node start's CPU, which every start (and every test
// that starts a node) would pay for a service only probes call. Until then the
// statuses are kept here; the library's implementation is built from them on
// first use and kept in step after, so its answers (Check, Watch, List) are
// the library's own.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import type { HealthImplementation as Implementation } from "grpc-health-check";

const require = createRequire(import.meta.url);

/** health.proto of the library, for reflection. */
export const healthProtoPath = join(dirname(require.resolve("grpc-health-check/package.json")), "proto/health/v1/health.proto");

type ServingStatus = "SERVING" | "NOT_SERVING";

interface Loaded {
  implementation: Implementation;
  service: grpc.ServiceDefinition;
  handlers: grpc.UntypedServiceImplementation;
}

const METHODS = [
  { name: "Check", originalName: "check", responseStream: false },
  { name: "Watch", originalName: "watch", responseStream: true },
  { name: "List", originalName: "list", responseStream: false },
] as const;

export class LazyHealth {
  private readonly statuses = new Map<string, ServingStatus>();
  private loaded: Loaded | undefined;

  constructor(initial: Record<string, ServingStatus>) {
    for (const [name, status] of Object.entries(initial)) this.statuses.set(name, status);
  }

  setStatus(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    this.loaded?.implementation.setStatus(service, status);
  }

  addToServer(server: Pick<grpc.Server, "addService">): void {
    const handlers: grpc.UntypedServiceImplementation = {};
    const definition: grpc.ServiceDefinition = Object.fromEntries(
      METHODS.map((m) => {
        const method = () => this.load().service[m.name]!;
        handlers[m.originalName] = ((...args: unknown[]) => (this.load().handlers[m.originalName] as (...a: unknown[]) => void)(...args)) as grpc.UntypedHandleCall;
        const attrs: grpc.MethodDefinition<unknown, unknown> = {
          path: `/grpc.health.v1.Health/${m.name}`,
          requestStream: false,
          responseStream: m.responseStream,
          requestSerialize: (v) => method().requestSerialize(v),
          requestDeserialize: (b) => method().requestDeserialize(b),
          responseSerialize: (v) => method().responseSerialize(v),
          responseDeserialize: (b) => method().responseDeserialize(b),
          originalName: m.originalName,
        };
        return [m.name, attrs];
      }),
    );
    server.addService(definition, handlers);
  }

  private load(): Loaded {
    if (this.loaded) return this.loaded;
    const lib = require("grpc-health-check") as typeof import("grpc-health-check");
    const implementation = new lib.HealthImplementation(Object.fromEntries(this.statuses));
    let handlers: grpc.UntypedServiceImplementation | undefined;
    // The library registers its handlers on a server; this one keeps them.
    implementation.addToServer({ addService: (_service: unknown, h: grpc.UntypedServiceImplementation) => void (handlers = h) } as unknown as grpc.Server);
    this.loaded = { implementation, service: lib.service as grpc.ServiceDefinition, handlers: handlers! };
    return this.loaded;
  }
}
