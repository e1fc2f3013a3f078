// gRPC server reflection (what grpcurl and Postman ask for), answered by
// @grpc/reflection but loaded on the first reflection call, not at start.
// Loading it and indexing the broker's proto costs about half a second of CPU
// (measured: import 0.26 s, index 0.47 s on the loaded CI-sized machine),
// which every node start would pay for a service most nodes never see called.
// Until the first call the two services (v1 and v1alpha) are registered with
// pass-through serializers; each call's messages are then decoded, answered
// and encoded by the library's own handler and serializers.
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";

const VERSIONS = ["v1", "v1alpha"] as const;
type Version = (typeof VERSIONS)[number];

const pathOf = (version: Version) => `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`;

/** The library's handler for one version, with its (de)serializers. */
interface LoadedReflection {
  decode(request: Buffer): unknown;
  encode(response: unknown): Buffer;
  handler: grpc.handleBidiStreamingCall<unknown, unknown>;
}

const passThrough = (b: Buffer) => b;

export function addLazyReflection(server: Pick<grpc.Server, "addService">, protoFiles: string[], includeDirs: string[]): void {
  let loading: Promise<Map<string, LoadedReflection>> | undefined;
  for (const version of VERSIONS) {
    const definition: grpc.ServiceDefinition = {
      ServerReflectionInfo: {
        path: pathOf(version),
        requestStream: true,
        responseStream: true,
        requestSerialize: passThrough,
        requestDeserialize: passThrough,
        responseSerialize: passThrough,
        responseDeserialize: passThrough,
        originalName: "serverReflectionInfo",
      },
    };
    const handler: grpc.handleBidiStreamingCall<Buffer, Buffer> = (call) => {
      loading ??= loadReflection(protoFiles, includeDirs);
      // Requests that arrive while the library loads are held, in order, until it has.
      const held: Array<Buffer | null> = [];
      const hold = (b: Buffer) => held.push(b);
      const holdEnd = () => held.push(null);
      call.on("data", hold);
      call.on("end", holdEnd);
      loading.then(
        (loaded) => {
          const r = loaded.get(pathOf(version))!;
          const facade = new EventEmitter() as EventEmitter & { write(m: unknown): boolean; end(): void };
          facade.write = (m) => call.write(r.encode(m));
          facade.end = () => call.end();
          r.handler(facade as unknown as grpc.ServerDuplexStream<unknown, unknown>);
          const pass = (b: Buffer | null) => (b === null ? facade.emit("end") : facade.emit("data", r.decode(b)));
          call.off("data", hold);
          call.off("end", holdEnd);
          call.on("data", pass);
          call.on("end", () => pass(null));
          for (const b of held) pass(b);
        },
        (err: Error) => call.emit("error", { code: grpc.status.INTERNAL, details: `server reflection failed to load: ${err.message}` }),
      );
    };
    server.addService(definition, { ServerReflectionInfo: handler });
  }
}

async function loadReflection(protoFiles: string[], includeDirs: string[]): Promise<Map<string, LoadedReflection>> {
  const [protoLoader, { ReflectionService }] = await Promise.all([import("@grpc/proto-loader"), import("@grpc/reflection")]);
  const pkg = protoLoader.loadSync(protoFiles, { includeDirs, keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const loaded = new Map<string, LoadedReflection>();
  new ReflectionService(pkg).addToServer({
    addService(definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation) {
      const method = definition.ServerReflectionInfo!;
      loaded.set(method.path, {
        decode: method.requestDeserialize,
        encode: method.responseSerialize,
        handler: implementation.ServerReflectionInfo as grpc.handleBidiStreamingCall<unknown, unknown>,
      });
    },
  });
  return loaded;
}
