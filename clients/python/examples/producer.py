"""Pushes jobs to the "jobs" topic's "work" queue: one with push, the rest
in a single push_batch. Run worker.py to process them.

    GMQ_ADDR=127.0.0.1:9503 GMQ_TOKEN=... python3 examples/producer.py
"""

import os

from gmq import Client, Code, GmqError

addr = os.environ.get("GMQ_ADDR", "127.0.0.1:9503")
token = os.environ.get("GMQ_TOKEN")  # only for nodes started with --auth-file

with Client(addr, token=token) as gmq:
    # TTR 2 s: a job not acked (or touched) within 2 s is delivered again, up to 3 times.
    gmq.config("jobs", msg_ttr=2, msg_retry=3)
    gmq.declare_queue("jobs", "work")

    first = gmq.push("jobs", b"resize image 1", route_key="work")
    print(f"pushed {first}")
    ids = gmq.push_batch(
        "jobs",
        [b"resize image 2", b"resize image 3", b"slow: transcode video", b"flaky: call partner API"],
        route_key="work",
    )
    for i in ids:
        print(f"pushed {i}")

    try:
        gmq.push("jobs", b"lost", route_key="no-such-queue")
    except GmqError as err:
        assert err.code == Code.FAILED_PRECONDITION  # no queue matches that route key
        print(f"refused as expected: {err.code.name}")
