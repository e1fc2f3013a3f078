import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { StoreError, type Storage } from "../../src/broker/storage.js";
import { type AllocateSeam, allocateZeroed, openStorage } from "../../src/store/index.js";
import { ids, msg, msgs, recordingLogger, sleep, tempDir } from "./helpers.js";
import { startGrpcServer, type RunningGrpcServer } from "../../src/api/grpc-server.js";
import { createUnaryHandlers } from "../../src/api/handlers.js";
import { startHttpServer, type RunningHttpServer } from "../../src/api/http-server.js";
import { Broker } from "../../src/broker/broker.js";
import { traceSubject, TraceKind } from "../../src/broker/trace.js";
import { defaults } from "../../src/config.js";
import { decodeStatusDetails } from "../helpers/error-table.js";
import { connect, grpc, type Client } from "../helpers/grpc-client.js";
import { waitFor } from "../helpers/wait-for.js";

const BIG = 1 << 30;

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated`), { code });
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  expect.fail("expected an error");
}

describe("store under allocation failures", function () {
  let dir: string;
  let store: Storage;
  let failWith: string | undefined;
  let calls: number;
  const seam: AllocateSeam = (path, bytes) => {
    calls++;
    if (failWith !== undefined) throw errno(failWith);
    allocateZeroed(path, bytes);
  };
  const open = (): Storage =>
    (store = openStorage({ dataDir: dir, segmentBytes: 64 << 10, fsync: "never", allocate: seam, logger: recordingLogger() }));

  beforeEach(() => {
    dir = tempDir("full");
    failWith = undefined;
    calls = 0;
    open();
  });
  afterEach(async () => {
    failWith = undefined;
    await store.close();
  });

  it("fails an append that needs a new segment with DISK_FULL and appends nothing of it", async () => {
    const q = store.openQueue("t", "q", "main");
    const first = msgs(100);
    q.append(first);
    expect(calls).to.equal(1);
    failWith = "ENOSPC";
    const err = caught(() => q.append(msgs(2000)));
    expect(err).to.be.instanceOf(StoreError);
    expect((err as StoreError).code).to.equal("DISK_FULL");
    expect(q.stats().ready).to.equal(100);
    // a small append still fits the current segment
    const small = msg();
    q.append([small]);
    await store.close();
    open();
    const q2 = store.openQueue("t", "q", "main");
    expect(q2.stats().ready).to.equal(101);
    failWith = undefined; // space is back
    const later = msgs(2000);
    q2.append(later);
    const got = q2.reserve(5000, BIG, Date.now() + 60_000);
    expect(ids(got)).to.deep.equal([...ids(first), small.id, ...ids(later)]);
    expect(got.every((m) => m.body.toString() === `body-${m.id}`)).to.equal(true);
  });

  it("fails on the N-th allocation only, whatever the batch boundaries", () => {
    const q = store.openQueue("t", "nth", "main");
    let appended = 0;
    let failedAt = -1;
    const seamCalls = (): number => calls;
    for (let i = 0; i < 60; i++) {
      if (seamCalls() >= 3) failWith = "ENOSPC";
      try {
        q.append(msgs(100, { body: Buffer.alloc(200, 1) }));
        appended += 100;
      } catch (err) {
        expect((err as StoreError).code).to.equal("DISK_FULL");
        failedAt = i;
        break;
      }
    }
    expect(failedAt).to.be.greaterThan(0);
    expect(q.stats().ready).to.equal(appended);
  });

  it("reports other allocation errors as IO", () => {
    const q = store.openQueue("t", "io", "main");
    failWith = "EIO";
    const err = caught(() => q.append(msgs(1)));
    expect((err as StoreError).code).to.equal("IO");
    expect(q.stats().ready).to.equal(0);
    failWith = undefined;
    q.append(msgs(1));
    expect(q.stats().ready).to.equal(1);
  });

  it("fails a reserve whose state cannot be journaled, leaving the messages ready", () => {
    const q = store.openQueue("t", "journal", "main");
    q.append(msgs(3000, { body: Buffer.alloc(1) }));
    q.reserve(1, BIG, Date.now() + 60_000); // journal segment exists now
    failWith = "ENOSPC";
    let reserved = 1;
    let err: unknown;
    for (let i = 0; i < 5000 && err === undefined; i++) {
      try {
        reserved += q.reserve(1, BIG, Date.now() + 60_000).length;
      } catch (e) {
        err = e;
      }
    }
    expect((err as StoreError).code).to.equal("DISK_FULL");
    expect(q.stats()).to.include({ inFlight: reserved, ready: 3000 - reserved });
  });
});

describe("store on a real, small file system (tmpfs, 2 MiB)", function () {
  this.timeout(90_000);
  let mnt: string;
  let mounted = false;

  before(function () {
    mnt = tempDir("tmpfs");
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt], { stdio: "ignore" });
      mounted = true;
    } catch {
      this.skip();
    }
  });
  after(() => {
    // lazy: mappings are unmapped only when their buffers are collected
    if (mounted) execFileSync("umount", ["-l", mnt], { stdio: "ignore" });
  });

  it("reports DISK_FULL when the disk fills, loses nothing appended, and appends again once consumers free space", async () => {
    let store = openStorage({ dataDir: mnt, segmentBytes: 64 << 10, fsync: "always", maxBodyBytes: 4096 });
    let q = store.openQueue("t", "q", "main");
    q.append([msg()]);
    for (const m of q.reserve(1, BIG, Date.now() + 60_000)) q.ack(m.id);
    await store.commit();
    const appended: bigint[] = [];
    let full: unknown;
    for (let i = 0; i < 1000 && full === undefined; i++) {
      const batch = msgs(20, { body: Buffer.alloc(1000, 0x42) });
      try {
        q.append(batch);
        await store.commit();
        appended.push(...ids(batch));
      } catch (err) {
        full = err;
      }
      if (i % 10 === 0) await sleep(1); // let segments be prepared ahead
    }
    expect(full).to.be.instanceOf(StoreError);
    expect((full as StoreError).code).to.equal("DISK_FULL");
    expect(appended.length).to.be.greaterThan(500);
    await store.close();

    store = openStorage({ dataDir: mnt, segmentBytes: 64 << 10, fsync: "always", maxBodyBytes: 4096 });
    q = store.openQueue("t", "q", "main");
    expect(q.stats().ready).to.equal(appended.length);
    const got: bigint[] = [];
    for (;;) {
      const b = q.reserve(100, BIG, Date.now() + 60_000);
      if (b.length === 0) break;
      for (const m of b) {
        expect(m.body.equals(Buffer.alloc(1000, 0x42))).to.equal(true);
        got.push(m.id);
        q.ack(m.id);
      }
      await store.commit();
    }
    expect(got).to.deep.equal(appended);
    expect(store.stats().segmentsReclaimed).to.be.greaterThan(5);
    // Reclaimed files are truncated and unlinked in the thread pool, behind
    // any fdatasync queued there: until then an append may still find the disk full.
    const more = msgs(200, { body: Buffer.alloc(1000, 0x43) });
    for (let i = 0; i < more.length; i += 20) {
      await waitFor(
        async () => {
          try {
            q.append(more.slice(i, i + 20));
            await store.commit();
            return true;
          } catch (err) {
            if ((err as StoreError).code !== "DISK_FULL") throw err;
            return false;
          }
        },
        { what: `space for messages ${i}..${i + 19} to come back`, intervalMs: 50 },
      );
    }
    expect(q.stats().ready).to.equal(200);
    await store.close();
  });

  it("loses trace events (counted, no crash) while a trace segment cannot be allocated whole, leaves no part of one, and traces again once space is freed", async () => {
    const dataDir = join(mnt, "traced");
    const store = openStorage({ dataDir, fsync: "always", logger: recordingLogger() });
    const traceDir = join(dataDir, "traces");
    const filler = join(mnt, "filler");
    // Fill the disk, then free 32 KiB: less than the trace's first segment (64 KiB), so its zero-fill is cut short.
    const fd = fs.openSync(filler, "w");
    const block = Buffer.alloc(4096, 1);
    try {
      for (;;) if (fs.writeSync(fd, block) < block.length) break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
    } finally {
      fs.closeSync(fd);
    }
    fs.truncateSync(filler, fs.statSync(filler).size - 32 * 1024);
    const trace = store.openTrace("t", { maxAgeMs: 0, maxBytes: BIG });
    const about = traceSubject({ nodeId: 1, routeKey: "q", queues: ["q"] });
    trace.append(TraceKind.Pushed, 1_800_000_000_000, 1n, about, 0, 0);
    await Promise.resolve();
    expect(trace.stats()).to.include({ eventsLost: 1, segments: 0 });
    const trc = () => (fs.readdirSync(traceDir, { recursive: true }) as string[]).filter((f) => f.endsWith(".trc"));
    expect(trc()).to.deep.equal([]);
    fs.rmSync(filler);
    trace.append(TraceKind.Pushed, 1_800_000_000_001, 2n, about, 0, 0);
    await Promise.resolve();
    expect(trace.read(2n, 0, 10).map((e) => e.id)).to.deep.equal([2n]);
    expect(trace.stats()).to.include({ eventsLost: 1, segments: 1 });
    expect(trc()).to.have.length(1);
    await store.close();
  });
});

describe("a node over a full disk (broker, gRPC and HTTP servers in process, ENOSPC seam)", function () {
  this.timeout(60_000);
  let dir: string;
  let failWith: string | undefined;
  let storage: Storage;
  let broker: Broker;
  let grpcServer: RunningGrpcServer;
  let httpServer: RunningHttpServer;
  let client: Client;
  let base: string;
  /** Resolves when the next Pop reaches its handler (to know a long poll is waiting). */
  let popArrived: (() => void) | undefined;
  /** The signal of the last Pop that reached its handler. */
  let popSignal: AbortSignal | undefined;
  const silent = { info() {}, warn() {}, error() {} };

  before(async () => {
    dir = tempDir("node-full");
    storage = openStorage({
      dataDir: dir,
      segmentBytes: 64 << 10,
      fsync: "never",
      logger: recordingLogger(),
      allocate: (path, bytes) => {
        if (failWith !== undefined) throw errno(failWith);
        allocateZeroed(path, bytes);
      },
    });
    broker = Broker.open({ storage, nodeId: 1, version: "test", maxBodyBytes: 1024, logger: silent });
    grpcServer = await startGrpcServer({ broker, addr: "127.0.0.1:0", logger: silent, limits: defaults });
    const handlers = createUnaryHandlers(broker, defaults);
    const pop = handlers.Pop;
    handlers.Pop = (req, ctx) => {
      popSignal = ctx.signal;
      const p = pop(req, ctx);
      popArrived?.();
      return p;
    };
    httpServer = await startHttpServer({
      config: { ...defaults, httpAddr: "127.0.0.1:0", maxHttpBodyBytes: 1 << 20, tlsCert: "", tlsKey: "", tlsClientCa: "", metrics: false, pprof: false, dashboard: false },
      broker,
      handlers,
      logger: silent,
    });
    client = connect(grpcServer.addr);
    base = `http://${httpServer.addr}`;
  });

  after(async () => {
    failWith = undefined;
    client?.close();
    await Promise.all([grpcServer?.shutdown(0), httpServer?.close(0)]);
    await broker?.close();
  });

  const reasonOf = (err: unknown): string => {
    const bin = (err as grpc.ServiceError).metadata.get("grpc-status-details-bin")[0] as Buffer;
    return decodeStatusDetails(bin).details[0]?.reason ?? "";
  };

  it("answers an ack, nack or touch it cannot journal with RESOURCE_EXHAUSTED / DISK_FULL on every protocol, and acks again once space is back", async () => {
    await client.call("declareQueue", { topic: "full", bindKey: "q" });
    const n = 1500; // more acks than one 64 KiB journal segment holds
    for (let i = 0; i < n; i += 500) {
      await client.call("pushBatch", { topic: "full", messages: Array.from({ length: 500 }, () => ({ routeKey: "q", body: Buffer.from("m") })) });
    }
    const inFlight: bigint[] = [];
    for (let i = 0; i < n; i++) inFlight.push((await client.call<object, { message: { id: bigint } }>("pop", { topic: "full", bindKey: "q" })).message.id);

    failWith = "ENOSPC";
    let failure: unknown;
    while (failure === undefined && inFlight.length > 0) {
      try {
        await client.call("ack", { topic: "full", bindKey: "q", id: inFlight.shift()! });
      } catch (err) {
        failure = err;
      }
    }
    expect(failure, "an ack needed a new journal segment").not.to.equal(undefined);
    expect((failure as grpc.ServiceError).code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(reasonOf(failure)).to.equal("DISK_FULL");

    for (const method of ["nack", "touch"]) {
      const err = await client.call(method, { topic: "full", bindKey: "q", id: inFlight.shift()! }).then(
        () => expect.fail(`${method} succeeded on a full disk`),
        (e: unknown) => e,
      );
      expect((err as grpc.ServiceError).code, method).to.equal(grpc.status.RESOURCE_EXHAUSTED);
      expect(reasonOf(err), method).to.equal("DISK_FULL");
    }
    const gateway = await fetch(`${base}/v1/topics/full/queues/q/messages/${inFlight.shift()!}:ack`, { method: "POST" });
    expect(gateway.status).to.equal(429);
    expect(await gateway.json()).to.include({ code: "RESOURCE_EXHAUSTED", reason: "DISK_FULL" });
    const legacy = await fetch(`${base}/ack?topic=full&bindKey=q&msgId=${inFlight.shift()!}`);
    expect(legacy.status).to.equal(200);
    expect(await legacy.json()).to.include({ code: 1, error: "RESOURCE_EXHAUSTED", reason: "DISK_FULL" });

    failWith = undefined;
    await client.call("ack", { topic: "full", bindKey: "q", id: inFlight.shift()! });
  });

  const waiting = (): Promise<void> => new Promise((resolve) => (popArrived = resolve));

  it("cancels an original API /pop long poll when its client goes away, so a later message goes to the next pop", async () => {
    await client.call("declareQueue", { topic: "full", bindKey: "left" });
    const arrived = waiting();
    const leaving = new AbortController();
    const left = fetch(`${base}/pop?topic=full&bindKey=left&waitMs=60000`, { signal: leaving.signal }).catch((err: unknown) => err);
    await arrived;
    popArrived = undefined;
    const signal = popSignal!;
    leaving.abort();
    expect(await left).to.be.instanceOf(Error);
    await waitFor(() => signal.aborted, { what: "the /pop's signal aborted after its client left" });
    await client.call("push", { topic: "full", routeKey: "left", body: Buffer.from("after") });
    const next = await fetch(`${base}/pop?topic=full&bindKey=left&waitMs=60000`);
    const reply = (await next.json()) as { code: number; data: { body: string; retry: number } };
    expect(reply.code).to.equal(0);
    expect(reply.data).to.include({ body: "after", retry: 0 });
  });

  it("ends a gateway long poll and an original API /pop long poll with UNAVAILABLE / SHUTTING_DOWN when its HTTP server closes", async () => {
    await client.call("declareQueue", { topic: "full", bindKey: "idle" });
    let arrived = waiting();
    const gateway = fetch(`${base}/v1/topics/full/queues/idle:pop?wait_ms=60000`);
    await arrived;
    arrived = waiting();
    const legacy = fetch(`${base}/pop?topic=full&bindKey=idle&waitMs=60000`);
    await arrived;
    popArrived = undefined;
    const closed = httpServer.close(30_000);
    const g = await gateway;
    expect(g.status).to.equal(503);
    expect(await g.json()).to.include({ code: "UNAVAILABLE", reason: "SHUTTING_DOWN" });
    const l = await legacy;
    expect(l.status).to.equal(200);
    expect(await l.json()).to.include({ code: 1, error: "UNAVAILABLE", reason: "SHUTTING_DOWN" });
    await closed;
  });
});
