/**
 * gmq's TypeScript client SDK. Connect with {@link GmqClient.connect} to a
 * cluster through etcd (nodes are discovered and followed as they join and
 * leave) or to a fixed list of node addresses.
 *
 * @example
 * ```ts
 * import { GmqClient, GmqError, Reason } from "@gmq/client";
 * const client = await GmqClient.connect({ addresses: ["127.0.0.1:9503"] });
 * try {
 *   await client.push("orders", "hello");
 * } catch (err) {
 *   if (err instanceof GmqError && err.reason === Reason.NO_ROUTE) console.error("no queue matches");
 * }
 * ```
 * @packageDocumentation
 */
export { GmqClient } from "./client.js";
export type { Body, ClientOptions, MessageRef, PerNode, Priority, PushOptions, PushResult, TopicConfigChange, TracedEvent } from "./client.js";
export type { Consumer, ConsumeOptions, Delivery, Handler } from "./consumer.js";
export type { Subscription, Publication } from "./subscription.js";
export { Code, GmqError, Reason } from "./errors.js";
export type { ReasonName } from "./errors.js";
export { strategies, createBalancer } from "./balancer.js";
export type { Balancer, Strategy } from "./balancer.js";
export { defaultEtcdPrefix, listEtcdNodes } from "./discovery.js";
export type { NodeInfo } from "./node-info.js";
export type { TlsOptions } from "./connection.js";
export { MessageState, RouteMode, TraceConsumerKind, TraceEventKind } from "../gen/gmq/v1/broker.js";
export type { Message, MessageInfo, TopicConfig, TopicStat, QueueStat, PingResponse, TraceEvent } from "../gen/gmq/v1/broker.js";
