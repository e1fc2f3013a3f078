// Ephemeral fan-out channels, like Redis PUBLISH/SUBSCRIBE: a message reaches
// the subscribers connected when it is published, and is never stored.
export type ChannelListener = (channel: string, body: Buffer, publishedAtMs: number) => void;

export class PubSub {
  private readonly channels = new Map<string, Set<ChannelListener>>();

  subscribe(channels: readonly string[], listener: ChannelListener): () => void {
    for (const ch of channels) {
      let set = this.channels.get(ch);
      if (!set) this.channels.set(ch, (set = new Set()));
      set.add(listener);
    }
    return () => {
      for (const ch of channels) {
        const set = this.channels.get(ch);
        if (!set) continue;
        set.delete(listener);
        if (set.size === 0) this.channels.delete(ch);
      }
    };
  }

  /** Returns how many subscribers received the message. */
  publish(channel: string, body: Buffer, nowMs: number): number {
    const set = this.channels.get(channel);
    if (!set) return 0;
    for (const listener of set) listener(channel, body, nowMs);
    return set.size;
  }

  subscriberCount(): number {
    let n = 0;
    for (const set of this.channels.values()) n += set.size;
    return n;
  }
}
