// A topic setting as every interface sets it: gRPC Config, the gateway's
// PUT …/config and the original API's /config, then a restart.
import { expect } from "chai";
import type { TopicConfig } from "../../src/gen/gmq/v1/broker.js";
import { call } from "./http.js";
import type { RestartableNode } from "./node-process.js";

/**
 * Sets `field` (a 64-bit setting in milliseconds) to grpc, then http, then
 * legacy through the three interfaces, checking each answer and that a Config
 * call without it keeps it; after a graceful restart the topic has legacy.
 */
export async function expectConfigSetEverywhereAndKept(n: RestartableNode, topic: string, field: "msgTtlMs" | "dedupWindowMs", values: { grpc: bigint; http: bigint; legacy: bigint }): Promise<void> {
  expect((await n.client.call<object, { config: TopicConfig }>("config", { topic, [field]: values.grpc })).config[field]).to.equal(values.grpc);
  // Unset keeps it.
  expect((await n.client.call<object, { config: TopicConfig }>("config", { topic, msgRetry: 3 })).config).to.deep.include({ [field]: values.grpc, msgRetry: 3 });
  const put = await call(n.httpBase, "PUT", `/v1/topics/${topic}/config`, { [field]: String(values.http) });
  expect(put.body.config).to.deep.include({ [field]: String(values.http), msgRetry: 3 });
  const legacy = await call(n.httpBase, "GET", `/config?topic=${topic}&${field}=${values.legacy}`);
  expect(legacy.body.data).to.deep.include({ [field]: Number(values.legacy) });
  await n.restart("stop");

  const { topics } = await n.client.call<object, { topics: { topic: string; config: TopicConfig }[] }>("listTopics", {});
  expect(topics.find((t) => t.topic === topic)?.config).to.deep.include({ [field]: values.legacy, msgRetry: 3 });
}
