// Picks the node a producer call goes to. Pure logic, no I/O.
//   weighted     smooth weighted round-robin (nginx's): node shares follow the
//                weights exactly over any window, without bursts to one node
//   random       uniform
//   round-robin  each node in turn
import type { NodeInfo } from "./node-info.js";

/** How producer calls spread over nodes. */
export type Strategy = "weighted" | "random" | "round-robin";

export const strategies: readonly Strategy[] = ["weighted", "random", "round-robin"];

export interface Balancer {
  /** Chooses one of `candidates` (undefined when there are none). */
  pick(candidates: readonly NodeInfo[]): NodeInfo | undefined;
}

class WeightedBalancer implements Balancer {
  private readonly current = new Map<string, number>();
  pick(candidates: readonly NodeInfo[]): NodeInfo | undefined {
    let best: NodeInfo | undefined;
    let bestWeight = -Infinity;
    let total = 0;
    for (const n of candidates) {
      const w = (this.current.get(n.key) ?? 0) + n.weight;
      this.current.set(n.key, w);
      total += n.weight;
      if (w > bestWeight) {
        best = n;
        bestWeight = w;
      }
    }
    if (best) this.current.set(best.key, bestWeight - total);
    // Forget nodes that left, so the map stays as small as the cluster.
    if (this.current.size > candidates.length * 2 + 8) {
      const live = new Set(candidates.map((n) => n.key));
      for (const k of this.current.keys()) if (!live.has(k)) this.current.delete(k);
    }
    return best;
  }
}

class RandomBalancer implements Balancer {
  constructor(private readonly random: () => number) {}
  pick(candidates: readonly NodeInfo[]): NodeInfo | undefined {
    return candidates[Math.floor(this.random() * candidates.length)];
  }
}

class RoundRobinBalancer implements Balancer {
  private next = 0;
  pick(candidates: readonly NodeInfo[]): NodeInfo | undefined {
    if (candidates.length === 0) return undefined;
    const n = candidates[this.next % candidates.length];
    this.next = (this.next + 1) % 1_000_000_007;
    return n;
  }
}

/**
 * The node for an idempotency key: rendezvous hashing (the candidate with the
 * highest hash of key and node), so the same key goes to the same node while
 * it is a candidate, and only keys of a node that leaves move elsewhere.
 */
export function pickByKey(key: string, candidates: readonly NodeInfo[]): NodeInfo | undefined {
  let best: NodeInfo | undefined;
  let bestScore = -1;
  for (const n of candidates) {
    const score = fnv1a(`${key}\u0000${n.key}`);
    if (score > bestScore || (score === bestScore && best !== undefined && n.key < best.key)) {
      best = n;
      bestScore = score;
    }
  }
  return best;
}

/** 32-bit FNV-1a over UTF-16 code units, unsigned. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // A final mix: FNV's low bits are weak for short inputs that differ only at the end.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

export function createBalancer(strategy: Strategy, random: () => number = Math.random): Balancer {
  switch (strategy) {
    case "weighted":
      return new WeightedBalancer();
    case "random":
      return new RandomBalancer(random);
    case "round-robin":
      return new RoundRobinBalancer();
  }
}
