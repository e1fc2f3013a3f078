// The echo servers of scripts/bench-roundtrip.ts, in their own process as a
// node would be: a raw TCP echo, a node:http2 stream echo, and grpc-js
// bidi-stream echoes (bytes passed through, no protobuf) with and without
// channelz. Each answers every message it gets with the same bytes.
import * as http2 from "node:http2";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";

export const ECHO_PATH = "/bench.Echo/Stream";
const bytes = (b: Buffer) => b;
export const echoService: grpc.ServiceDefinition = {
  Stream: { path: ECHO_PATH, requestStream: true, responseStream: true, requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes },
};

const listen = (server: net.Server | http2.Http2Server) =>
  new Promise<string>((resolve) => server.listen(0, "127.0.0.1", () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)));

async function grpcEcho(options: grpc.ServerOptions): Promise<string> {
  const server = new grpc.Server(options);
  server.addService(echoService, {
    Stream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on("data", (b: Buffer) => call.write(b));
      call.on("end", () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return `127.0.0.1:${port}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const tcp = net.createServer((s) => {
    s.setNoDelay(true);
    s.on("data", (d) => s.write(d));
    s.on("error", () => {});
  });
  const h2 = http2.createServer();
  h2.on("stream", (stream) => {
    stream.respond({ ":status": 200 });
    stream.on("data", (d: Buffer) => stream.write(d));
    stream.on("end", () => stream.end());
    stream.on("error", () => {});
  });
  const addrs = {
    tcp: await listen(tcp),
    h2: await listen(h2),
    grpc: await grpcEcho({}),
    grpcNoChannelz: await grpcEcho({ "grpc.enable_channelz": 0 }),
  };
  console.log(JSON.stringify({ msg: "listening", grpcAddr: addrs.grpc, ...addrs }));
  process.on("SIGTERM", () => process.exit(0));
}
