"""Pushes a message that becomes ready 2 seconds later, then long-polls
for it and prints how long it took to arrive.

    GMQ_ADDR=127.0.0.1:9503 python3 examples/delayed.py
"""

import os
import time

from gmq import Client

addr = os.environ.get("GMQ_ADDR", "127.0.0.1:9503")
token = os.environ.get("GMQ_TOKEN")

with Client(addr, token=token) as gmq:
    gmq.declare_queue("reminders", "email")
    start = time.monotonic()
    mid = gmq.push("reminders", b"your trial ends tomorrow", route_key="email", delay_ms=2000)
    print(f"pushed {mid}, ready in 2 s")
    msg = None
    while msg is None:  # each pop waits up to 5 s for a ready message
        msg = gmq.pop("reminders", "email", wait_ms=5000)
    gmq.ack(msg)
    print(f"got {msg.id} after {time.monotonic() - start:.1f} s: {msg.body.decode()}")
