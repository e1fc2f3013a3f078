// Requests that do not decode. grpc-js answers a request its deserializer
// throws on with INTERNAL and never tells the handler, so a stream's session
// would keep writing to a call that is over. Every BrokerService method is
// therefore given a deserializer that never throws: what does not decode
// becomes an Undecodable, and the handler answers INVALID_ARGUMENT
// (MALFORMED_REQUEST) itself.
import type * as grpc from "@grpc/grpc-js";
import { malformed, type BrokerError } from "../broker/index.js";

/** Most characters of a decoder's message quoted back to the client. */
const MAX_QUOTED_CHARS = 200;

/** What a deserializer hands on in place of a request that did not decode. */
export class Undecodable {
  constructor(
    readonly method: string,
    readonly reason: string,
  ) {}

  toError(): BrokerError {
    const r = this.reason.length > MAX_QUOTED_CHARS ? `${this.reason.slice(0, MAX_QUOTED_CHARS)}…` : this.reason;
    return malformed(`the ${this.method} request is not valid protobuf: ${r}`);
  }
}

/** The request, or throws INVALID_ARGUMENT when it did not decode. */
export function decoded<T>(request: T | Undecodable): T {
  if (request instanceof Undecodable) throw request.toError();
  return request;
}

/** The service with each method's request deserializer made total (see the file comment). */
export function withTotalDeserializers<S extends grpc.ServiceDefinition>(service: S): S {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, def] of Object.entries(service)) {
    const deserialize = def.requestDeserialize;
    const method = def.path.slice(def.path.lastIndexOf("/") + 1);
    out[name] = {
      ...def,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return deserialize(bytes);
        } catch (err) {
          return new Undecodable(method, err instanceof Error ? err.message : String(err));
        }
      },
    };
  }
  return out as unknown as S;
}
