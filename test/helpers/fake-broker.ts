// An in-memory stand-in for a gmq node (FULL routing, no TTR, no storage), to
// test the SDK's own logic — streams, credit, failover, fan-out — without the
// broker. Cluster tests use real nodes.
import { Server, ServerCredentials, status, type ServerDuplexStream, type ServerWritableStream } from "@grpc/grpc-js";
import {
  BrokerServiceService,
  type BrokerServiceServer,
  type ConsumeRequest,
  type ConsumeResponse,
  type Message,
  type SubscribeRequest,
  type SubscribeResponse,
} from "../../src/gen/gmq/v1/broker.js";

export interface FakeBroker {
  addr: string;
  nodeId: number;
  /** Messages stored per "topic_bindKey". */
  queues: Map<string, Message[]>;
  pushed: number;
  acked: bigint[];
  stop(): Promise<void>;
  kill(): void;
}

const fail = (code: status, details: string) => Object.assign(new Error(details), { code, details });

export async function startFakeBroker(nodeId: number, port = 0): Promise<FakeBroker> {
  const queues = new Map<string, Message[]>();
  const consumers = new Map<string, Set<() => void>>();
  const subscribers = new Set<ServerWritableStream<SubscribeRequest, SubscribeResponse>>();
  let nextId = BigInt(nodeId) << 32n;
  const self = { pushed: 0, acked: [] as bigint[] };

  const store = (topic: string, routeKey: string, body: Buffer): bigint => {
    const name = `${topic}_${routeKey || "default"}`;
    let q = queues.get(name);
    if (!q) {
      if (routeKey) throw fail(status.FAILED_PRECONDITION, `no queue of topic ${topic} matches route key ${routeKey}`);
      q = [];
      queues.set(name, q);
    }
    const id = ++nextId;
    q.push({ id, topic, bindKey: routeKey || "default", routeKey, body, retry: 0, createdAtMs: BigInt(Date.now()), deadlineMs: 0n });
    self.pushed++;
    for (const wake of consumers.get(name) ?? []) wake();
    return id;
  };

  const impl: BrokerServiceServer = {
    config: (call, cb) => cb(null, { config: { autoAck: false, routeMode: 1, msgTtr: 30, msgRetry: 5 } }),
    declareQueue: (call, cb) => {
      const name = `${call.request.topic}_${call.request.bindKey}`;
      const created = !queues.has(name);
      if (created) queues.set(name, []);
      cb(null, { name, created });
    },
    deleteQueue: (call, cb) => {
      queues.delete(`${call.request.topic}_${call.request.bindKey}`);
      cb(null, {});
    },
    listTopics: (_call, cb) => cb(null, { topics: [...new Set([...queues.keys()].map((k) => k.split("_")[0]!))].map((topic) => ({ topic, config: undefined })) }),
    listQueues: (call, cb) =>
      cb(null, { bindKeys: [...queues.keys()].filter((k) => k.startsWith(`${call.request.topic}_`)).map((k) => k.slice(call.request.topic.length + 1)) }),
    getTopicStat: (call, cb) => cb(fail(status.NOT_FOUND, "no stats in the fake"), null),
    push: (call, cb) => {
      try {
        cb(null, { id: store(call.request.topic, call.request.routeKey, call.request.body), queues: 1 });
      } catch (e) {
        cb(e as Error, null);
      }
    },
    pushBatch: (call, cb) => {
      try {
        cb(null, { ids: call.request.messages.map((m) => store(call.request.topic, m.routeKey, m.body)) });
      } catch (e) {
        cb(e as Error, null);
      }
    },
    pushStream: (call) => {
      call.on("data", (r) => {
        try {
          call.write({ seq: r.seq, id: store(r.topic, r.routeKey, r.body), errorCode: 0, errorMessage: "" });
        } catch (e) {
          const err = e as { code: number; details: string };
          call.write({ seq: r.seq, id: 0n, errorCode: err.code, errorMessage: err.details });
        }
      });
      call.on("end", () => call.end());
      call.on("error", () => undefined);
    },
    pop: (call, cb) => {
      const m = queues.get(`${call.request.topic}_${call.request.bindKey}`)?.shift();
      if (m) cb(null, { message: m });
      else cb(fail(status.NOT_FOUND, "no message ready"), null);
    },
    consume: (call: ServerDuplexStream<ConsumeRequest, ConsumeResponse>) => {
      let name = "";
      let credit = 0;
      const pump = () => {
        const q = queues.get(name);
        if (!q || credit <= 0 || q.length === 0) return;
        const batch = q.splice(0, credit);
        credit -= batch.length;
        call.write({ messages: batch });
      };
      call.on("data", (r: ConsumeRequest) => {
        if (r.kind?.$case === "subscribe") {
          name = `${r.kind.value.topic}_${r.kind.value.bindKey}`;
          if (!queues.has(name)) {
            call.emit("error", fail(status.NOT_FOUND, `queue ${name} not found`));
            return;
          }
          credit = r.kind.value.maxInFlight;
          const set = consumers.get(name) ?? new Set();
          set.add(pump);
          consumers.set(name, set);
          call.on("close", () => set.delete(pump));
        } else if (r.kind?.$case === "update") {
          credit += r.kind.value.credit + r.kind.value.ackIds.length + r.kind.value.nackIds.length;
          self.acked.push(...r.kind.value.ackIds);
        }
        pump();
      });
      call.on("end", () => {
        consumers.get(name)?.delete(pump);
        call.end();
      });
      call.on("error", () => consumers.get(name)?.delete(pump));
    },
    ack: (call, cb) => {
      self.acked.push(call.request.id);
      cb(null, {});
    },
    nack: (_call, cb) => cb(null, {}),
    touch: (_call, cb) => cb(null, { deadlineMs: 0n }),
    popDead: (_call, cb) => cb(fail(status.NOT_FOUND, "no dead letter"), null),
    listDead: (_call, cb) => cb(null, { messages: [] }),
    redrive: (_call, cb) => cb(null, { moved: 0n }),
    publish: (call, cb) => {
      for (const s of subscribers) if (s.request.channels.includes(call.request.channel)) s.write({ channel: call.request.channel, body: call.request.body, publishedAtMs: BigInt(Date.now()) });
      cb(null, { receivers: [...subscribers].filter((s) => s.request.channels.includes(call.request.channel)).length });
    },
    subscribe: (call) => {
      subscribers.add(call);
      call.on("cancelled", () => subscribers.delete(call));
      call.on("close", () => subscribers.delete(call));
    },
    ping: (_call, cb) => cb(null, { nodeId, version: "fake", startedAtMs: 0n }),
  };

  const server = new Server();
  server.addService(BrokerServiceService, impl);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return Object.assign(self, {
    addr: `127.0.0.1:${bound}`,
    nodeId,
    queues,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
    kill: () => server.forceShutdown(),
  });
}
