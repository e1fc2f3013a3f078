"""Measures a PushBatch + Consume loop: pushes --messages messages in
batches of --batch, then consumes them on one stream with --credit in
flight, acking each response's messages in one update. Bounded by count and
by --max-seconds.

    GMQ_ADDR=127.0.0.1:9503 python3 examples/throughput.py --messages 20000
"""

import argparse
import os
import time
import uuid

from gmq import Client

parser = argparse.ArgumentParser()
parser.add_argument("--messages", type=int, default=20000)
parser.add_argument("--batch", type=int, default=500)
parser.add_argument("--credit", type=int, default=1000)
parser.add_argument("--body-bytes", type=int, default=100)
parser.add_argument("--max-seconds", type=float, default=120)
args = parser.parse_args()

topic = f"throughput-{uuid.uuid4().hex[:8]}"
body = b"x" * args.body_bytes
deadline = time.monotonic() + args.max_seconds
with Client(os.environ.get("GMQ_ADDR", "127.0.0.1:9503"), token=os.environ.get("GMQ_TOKEN")) as gmq:
    gmq.declare_queue(topic, "q")
    start = time.monotonic()
    pushed = 0
    while pushed < args.messages and time.monotonic() < deadline:
        n = min(args.batch, args.messages - pushed)
        pushed += len(gmq.push_batch(topic, [body] * n, route_key="q"))
    pushed_at = time.monotonic()
    consumed = 0
    with gmq.consume(topic, "q", max_in_flight=args.credit) as consumer:
        for batch in consumer.batches():
            consumer.ack(*[m.id for m in batch])
            consumed += len(batch)
            if consumed >= pushed or time.monotonic() >= deadline:
                break
    end = time.monotonic()
    gmq.delete_queue(topic, "q")
push_s, consume_s = pushed_at - start, end - pushed_at
print(
    f"python: pushed {pushed} in {push_s:.2f} s ({pushed / push_s:.0f} msgs/s), "
    f"consumed+acked {consumed} in {consume_s:.2f} s ({consumed / consume_s:.0f} msgs/s), "
    f"loop {consumed / (end - start):.0f} msgs/s"
)
