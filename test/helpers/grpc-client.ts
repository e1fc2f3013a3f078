// A promise-based gRPC client for tests, over the generated stubs.
import * as grpc from "@grpc/grpc-js";
import * as pb from "../../src/gen/gmq/v1/broker.js";
import { BrokerServiceClient } from "../../src/gen/gmq/v1/broker.js";

type MessageFns = { fromPartial(o: unknown): unknown };

export type Client = BrokerServiceClient & {
  call<Req, Res>(method: string, req: Req, options?: Partial<grpc.CallOptions>): Promise<Res>;
};

export function connect(addr: string, credentials = grpc.credentials.createInsecure(), options: Partial<grpc.ClientOptions> = {}): Client {
  const client = new BrokerServiceClient(addr, credentials, { "grpc.use_local_subchannel_pool": 1, ...options }) as Client;
  client.call = <Req, Res>(method: string, req: Req, options: Partial<grpc.CallOptions> = {}) =>
    new Promise<Res>((resolve, reject) => {
      const fn = (client as unknown as Record<string, Function>)[method];
      if (!fn) throw new Error(`no method ${method}`);
      // Tests write only the fields they care about; fill in the rest as a real stub would.
      const type = (pb as unknown as Record<string, MessageFns>)[method.charAt(0).toUpperCase() + method.slice(1) + "Request"];
      fn.call(client, type ? type.fromPartial(req) : req, new grpc.Metadata(), options, (err: grpc.ServiceError | null, res: Res) => (err ? reject(err) : resolve(res)));
    });
  return client;
}

/** Runs fn and returns the gRPC status code it failed with (fails the test if it succeeded). */
export async function codeOf(p: Promise<unknown>): Promise<grpc.status> {
  try {
    await p;
  } catch (err) {
    return (err as grpc.ServiceError).code;
  }
  throw new Error("expected the call to fail");
}

let counter = 0;
/** A topic name no other test uses. */
export function uniqueTopic(prefix = "t"): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}

/** Pops and acks queue `bindKey` of `topic` until it is empty; the ids in delivery order. */
export async function drainQueue(c: Client, topic: string, bindKey = "q"): Promise<bigint[]> {
  const ids: bigint[] = [];
  for (;;) {
    let m: pb.Message;
    try {
      m = (await c.call<object, pb.PopResponse>("pop", { topic, bindKey })).message!;
    } catch (err) {
      if ((err as grpc.ServiceError).code === grpc.status.NOT_FOUND) return ids;
      throw err;
    }
    ids.push(m.id);
    await c.call("ack", { topic, bindKey, id: m.id });
  }
}

export { grpc };
