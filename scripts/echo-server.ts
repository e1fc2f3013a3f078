// The grpc-js ceiling in this same run: a server that answers Push with no
// work at all. scripts/bench.ts compares unary Push against it.
import * as grpc from "@grpc/grpc-js";
import { BrokerServiceService, PushResponse } from "../src/gen/gmq/v1/broker.js";

const server = new grpc.Server();
const reply = PushResponse.fromPartial({ id: 1n, queues: 1 });
server.addService(BrokerServiceService, {
  push: (_call: unknown, cb: grpc.sendUnaryData<PushResponse>) => cb(null, reply),
} as unknown as grpc.UntypedServiceImplementation);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  console.log(JSON.stringify({ msg: "listening", grpcAddr: `127.0.0.1:${port}` }));
});
process.on("SIGTERM", () => server.forceShutdown());
