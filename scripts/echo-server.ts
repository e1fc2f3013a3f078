// The grpc-js ceiling in this same run: a server that answers Push and
// PushStream with no work at all. scripts/bench.ts compares unary Push against it.
import * as grpc from "@grpc/grpc-js";
import { BrokerServiceService, PushResponse, type PushStreamRequest, type PushStreamResponse } from "../src/gen/gmq/v1/broker.js";

const server = new grpc.Server();
const reply = PushResponse.fromPartial({ id: 1n, queues: 1 });
server.addService(BrokerServiceService, {
  push: (_call: unknown, cb: grpc.sendUnaryData<PushResponse>) => cb(null, reply),
  pushStream: (call: grpc.ServerDuplexStream<PushStreamRequest, PushStreamResponse>) => {
    call.on("data", (r: PushStreamRequest) => call.write({ seq: r.seq, id: 1n, errorCode: 0, errorMessage: "", errorReason: "", duplicate: false, results: [], takesPushes: false }));
    call.on("end", () => call.end());
  },
} as unknown as grpc.UntypedServiceImplementation);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  console.log(JSON.stringify({ msg: "listening", grpcAddr: `127.0.0.1:${port}` }));
});
process.on("SIGTERM", () => server.forceShutdown());
