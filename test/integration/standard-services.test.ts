// The standard gRPC services a tool like grpcurl relies on: reflection (so
// `grpcurl -plaintext 127.0.0.1:9503 list` works without proto files) and health.
import { expect } from "chai";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";

const require = createRequire(import.meta.url);
const descriptor = require("protobufjs/ext/descriptor") as {
  FileDescriptorProto: { decode(b: Uint8Array): { name: string; package: string; service: { name: string; method: { name: string; inputType: string; outputType: string; clientStreaming?: boolean; serverStreaming?: boolean }[] }[] } };
};

function loadService(file: string, includeDirs: string[], name: string): grpc.ServiceClientConstructor {
  const def = protoLoader.loadSync(file, { includeDirs, keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  let obj: any = grpc.loadPackageDefinition(def);
  for (const part of name.split(".")) obj = obj[part];
  return obj as grpc.ServiceClientConstructor;
}

const reflectionDir = join(dirname(require.resolve("@grpc/reflection/package.json")), "build/proto");

describe("standard gRPC services", function () {
  this.timeout(20_000);
  let node: NodeProcess;
  before(async () => {
    node = await startNodeProcess();
  });
  after(async () => {
    await node?.stop();
    node?.cleanup();
  });

  function reflect(request: object): Promise<any> {
    const Reflection = loadService("grpc/reflection/v1alpha/reflection.proto", [reflectionDir], "grpc.reflection.v1alpha.ServerReflection");
    const client = new Reflection(node.grpcAddr, grpc.credentials.createInsecure());
    return new Promise((resolve, reject) => {
      const call = (client as any).ServerReflectionInfo();
      call.on("data", (res: unknown) => {
        resolve(res);
        call.end();
        client.close();
      });
      call.on("error", reject);
      call.write(request);
    });
  }

  it("lists the services through reflection, as `grpcurl list` does", async () => {
    const res = await reflect({ list_services: "*" });
    const names = res.list_services_response.service.map((s: { name: string }) => s.name);
    expect(names).to.include.members(["gmq.v1.BrokerService", "grpc.health.v1.Health"]);
  });

  it("describes BrokerService and its methods through reflection, as `grpcurl describe` does", async () => {
    const res = await reflect({ file_containing_symbol: "gmq.v1.BrokerService" });
    const files = res.file_descriptor_response.file_descriptor_proto.map((b: Buffer) => descriptor.FileDescriptorProto.decode(b));
    const file = files.find((f: { package: string }) => f.package === "gmq.v1");
    const svc = file.service.find((s: { name: string }) => s.name === "BrokerService");
    const methods = Object.fromEntries(svc.method.map((m: any) => [m.name, m]));
    expect(Object.keys(methods)).to.include.members(["Push", "PushBatch", "PushStream", "Pop", "Consume", "Ack", "Subscribe", "Ping"]);
    expect(methods.Push.inputType).to.equal(".gmq.v1.PushRequest");
    expect(methods.Consume.clientStreaming && methods.Consume.serverStreaming).to.equal(true);
  });

  it("answers several requests on one v1 reflection stream in order, and ends the stream after the client does", async () => {
    // Reflection is loaded by the node on its first call: these requests arrive while it loads.
    const other = await startNodeProcess();
    const Reflection = loadService("grpc/reflection/v1/reflection.proto", [reflectionDir], "grpc.reflection.v1.ServerReflection");
    const client = new Reflection(other.grpcAddr, grpc.credentials.createInsecure());
    try {
      const answers = await new Promise<any[]>((resolve, reject) => {
        const got: any[] = [];
        const call = (client as any).ServerReflectionInfo();
        call.on("data", (res: unknown) => got.push(res));
        call.on("end", () => resolve(got));
        call.on("error", reject);
        call.write({ list_services: "*" });
        call.write({ file_containing_symbol: "gmq.v1.BrokerService" });
        call.write({ file_containing_symbol: "no.such.Symbol" });
        call.end();
      });
      expect(answers.map((a) => a.message_response)).to.deep.equal(["list_services_response", "file_descriptor_response", "error_response"]);
      expect(answers[0].list_services_response.service.map((s: { name: string }) => s.name)).to.include("gmq.v1.BrokerService");
      expect(answers[2].error_response.error_code).to.equal(grpc.status.NOT_FOUND);
    } finally {
      client.close();
      await other.stop();
      other.cleanup();
    }
  });

  it("reports SERVING on the health service", async () => {
    const Health = loadService(healthProtoPath, [], "grpc.health.v1.Health");
    const client = new Health(node.grpcAddr, grpc.credentials.createInsecure()) as any;
    for (const service of ["", "gmq.v1.BrokerService"]) {
      const res = await new Promise<any>((resolve, reject) => client.Check({ service }, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))));
      expect(res.status).to.equal("SERVING");
    }
    client.close();
  });

  it("stops gracefully on SIGTERM with exit code 0", async () => {
    const other = await startNodeProcess();
    expect(await other.stop()).to.equal(0);
    expect(other.logs.some((l) => l.includes('"msg":"stopped"'))).to.equal(true);
    other.cleanup();
  });
});
