"""Consumes the "jobs" topic's "work" queue on a Consume stream: acks each
job done, nacks a job whose handler raised (it comes back), and touches a
long job while it runs so its TTR does not expire.

    GMQ_ADDR=127.0.0.1:9503 python3 examples/worker.py --jobs 5

--jobs N exits after N jobs are done; without it the worker runs until Ctrl-C.
"""

import argparse
import os
import threading
import time

from gmq import Client

parser = argparse.ArgumentParser()
parser.add_argument("--jobs", type=int, default=0, help="exit after this many jobs are done (0: never)")
args = parser.parse_args()

addr = os.environ.get("GMQ_ADDR", "127.0.0.1:9503")
token = os.environ.get("GMQ_TOKEN")
failed_once = set()


def handle(msg) -> None:
    body = msg.body.decode()
    if body.startswith("flaky:") and msg.id not in failed_once:
        failed_once.add(msg.id)
        raise RuntimeError("partner API timed out")
    if body.startswith("slow:"):
        time.sleep(3)  # longer than the topic's 2 s TTR: the heartbeat below touches it


def with_heartbeat(consumer, msg, every_s: float = 0.5) -> None:
    """Runs the job while touching it every every_s seconds."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            consumer.touch(msg)

    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    try:
        handle(msg)
    finally:
        stop.set()
        beater.join()


done = 0
with Client(addr, token=token) as gmq:
    # Credit 1: one job at a time, so no prefetched job waits out its TTR
    # behind a slow one. Raise it for short jobs handled concurrently.
    with gmq.consume("jobs", "work", max_in_flight=1) as consumer:
        for msg in consumer:
            try:
                with_heartbeat(consumer, msg)
            except Exception as err:  # the job failed: give it back for another try
                print(f"nack {msg.id} ({err}), retry {msg.retry}")
                consumer.nack(msg)
                continue
            consumer.ack(msg)
            done += 1
            print(f"done {msg.id}: {msg.body.decode()}")
            if done == args.jobs:
                break
print(f"{done} jobs done")
