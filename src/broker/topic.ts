// A topic: its configuration, its queues, and which queues a route key reaches.
import { AppendLane } from "./append-lane.js";
import { DedupWindow } from "./dedup.js";
import { DEFAULT_BIND_KEY } from "./names.js";
import type { Queue } from "./queue.js";
import { route } from "./routing.js";
import type { TraceLog } from "./storage.js";
import type { TopicConfig } from "./topic-config.js";

const ROUTE_CACHE_MAX = 1024;

export class Topic {
  readonly queues = new Map<string, Queue>();
  pushed = 0;
  /** Idempotency keys pushed within the last config.dedupWindowMs. */
  readonly dedup = new DedupWindow();
  /** Pushes append their copies through it, in push order. */
  readonly appends = new AppendLane();
  /** The topic's lifecycle trace while its tracing is on (TopicConfig.trace). */
  trace: TraceLog | undefined;
  /** Route key -> queues, for REGEX and WILDCARD; cleared whenever queues or the mode change. */
  private readonly routeCache = new Map<string, Queue[]>();

  constructor(
    readonly name: string,
    public config: TopicConfig,
    readonly createdAtMs: number,
  ) {}

  setConfig(config: TopicConfig): void {
    if (config.routeMode !== this.config.routeMode) this.routeCache.clear();
    if (config.dedupWindowMs === 0) this.dedup.clear();
    this.config = config;
  }

  addQueue(queue: Queue): void {
    this.queues.set(queue.bindKey, queue);
    this.routeCache.clear();
  }

  removeQueue(bindKey: string): void {
    this.queues.delete(bindKey);
    this.routeCache.clear();
  }

  /**
   * The queues a push with this route key goes to. An empty route key means
   * the default queue (the caller creates it on demand).
   */
  match(routeKey: string): Queue[] {
    if (routeKey === "") {
      const q = this.queues.get(DEFAULT_BIND_KEY);
      return q ? [q] : [];
    }
    if (this.config.routeMode === "full") {
      const q = this.queues.get(routeKey);
      return q ? [q] : [];
    }
    let hit = this.routeCache.get(routeKey);
    if (hit) return hit;
    hit = route(this.config.routeMode, routeKey, this.queues.keys()).map((b) => this.queues.get(b) as Queue);
    if (hit.length === 0) return hit; // its push fails: nothing of it is kept
    if (this.routeCache.size >= ROUTE_CACHE_MAX) this.routeCache.clear();
    this.routeCache.set(routeKey, hit);
    return hit;
  }

  bindKeys(): string[] {
    return [...this.queues.keys()].sort();
  }
}
