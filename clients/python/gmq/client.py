"""A small helper over gmq's generated gRPC stubs.

The stubs (gmq.v1.broker_pb2 and broker_pb2_grpc, made by ../generate.sh)
are usable as they are; this module only takes away what is awkward with
them: building channel credentials and the bearer token, wrapping
grpc.RpcError in one GmqError carrying the status code, and driving the
Consume stream (credit, acks, nacks, touches) from a plain iterator.

    from gmq import Client, Code, GmqError

    with Client("127.0.0.1:9503", token="...") as c:
        c.declare_queue("orders", "paid")
        c.push("orders", b"hello", route_key="paid")
        with c.consume("orders", "paid", max_in_flight=10) as consumer:
            for msg in consumer:
                handle(msg.body)
                consumer.ack(msg)

Message ids are Python ints: uint64 in the proto, exact above 2**53.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import grpc

from gmq.v1 import broker_pb2 as pb
from gmq.v1 import broker_pb2_grpc as pb_grpc

#: gRPC status codes, as carried by GmqError.code (Code.NOT_FOUND, ...).
Code = grpc.StatusCode

#: What push_batch accepts per message: a body, (route_key, body), or a BatchMessage.
BatchItem = Union[bytes, Tuple[str, bytes], pb.BatchMessage]


class GmqError(Exception):
    """A call gmq refused or that failed on the wire. Branch on ``code``
    (a grpc.StatusCode), never on the message text."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_rpc(cls, err: grpc.RpcError) -> "GmqError":
        code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
        details = err.details() if hasattr(err, "details") else str(err)
        return cls(code, details or "")


def _call(fn, request, **kwargs):
    try:
        return fn(request, **kwargs)
    except grpc.RpcError as err:
        raise GmqError.from_rpc(err) from None


class _BearerToken(grpc.AuthMetadataPlugin):
    def __init__(self, token: str) -> None:
        self._metadata = (("authorization", f"Bearer {token}"),)

    def __call__(self, context, callback) -> None:
        callback(self._metadata, None)


class Client:
    """One connection to a gmq node.

    addr: "host:port" of the node's gRPC listener.
    token: bearer token sent with every call (nodes started with --auth-file).
    tls: connect over TLS; ca_file is the PEM CA to trust (default: the
      system's roots); cert_file and key_file give a client certificate for
      mutual TLS. server_name overrides the name checked in the certificate.
    Without TLS the token is still sent (for loopback and trusted networks).
    """

    def __init__(
        self,
        addr: str = "127.0.0.1:9503",
        *,
        token: Optional[str] = None,
        tls: bool = False,
        ca_file: Optional[str] = None,
        cert_file: Optional[str] = None,
        key_file: Optional[str] = None,
        server_name: Optional[str] = None,
        options: Sequence[Tuple[str, object]] = (),
    ) -> None:
        opts = list(options)
        if server_name:
            opts.append(("grpc.ssl_target_name_override", server_name))
        self._metadata: Tuple[Tuple[str, str], ...] = ()
        if tls:
            creds = grpc.ssl_channel_credentials(
                root_certificates=_read(ca_file),
                private_key=_read(key_file),
                certificate_chain=_read(cert_file),
            )
            if token:
                creds = grpc.composite_channel_credentials(creds, grpc.metadata_call_credentials(_BearerToken(token)))
            self._channel = grpc.secure_channel(addr, creds, opts)
        else:
            # Call credentials need a secure channel, so on plaintext the token
            # travels as ordinary metadata on each call.
            if token:
                self._metadata = (("authorization", f"Bearer {token}"),)
            self._channel = grpc.insecure_channel(addr, opts)
        #: The generated stub, for anything the helper does not cover.
        self.stub = pb_grpc.BrokerServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _unary(self, name: str, request):
        return _call(getattr(self.stub, name), request, metadata=self._metadata)

    # Topics and queues

    def ping(self) -> pb.PingResponse:
        return self._unary("Ping", pb.PingRequest())

    def config(self, topic: str, **fields) -> pb.TopicConfig:
        """Sets a topic's configuration (creating it): any ConfigRequest field,
        e.g. config("jobs", msg_ttr=30, msg_retry=3, route_mode=pb.ROUTE_MODE_WILDCARD)."""
        return self._unary("Config", pb.ConfigRequest(topic=topic, **fields)).config

    def declare_queue(self, topic: str, bind_key: str) -> bool:
        """Declares a queue; True when it was created, False when it existed."""
        return self._unary("DeclareQueue", pb.DeclareQueueRequest(topic=topic, bind_key=bind_key)).created

    def delete_queue(self, topic: str, bind_key: str) -> None:
        self._unary("DeleteQueue", pb.DeleteQueueRequest(topic=topic, bind_key=bind_key))

    def topic_stat(self, topic: str) -> pb.TopicStat:
        return self._unary("GetTopicStat", pb.GetTopicStatRequest(topic=topic)).stat

    def queue_stat(self, topic: str, bind_key: str) -> pb.QueueStat:
        for q in self.topic_stat(topic).queues:
            if q.bind_key == bind_key:
                return q
        raise GmqError(Code.NOT_FOUND, f"no queue {bind_key!r} in topic {topic!r}")

    # Producing

    def push(
        self,
        topic: str,
        body: bytes,
        *,
        route_key: str = "",
        delay_ms: int = 0,
        ttl_ms: int = 0,
        idempotency_key: str = "",
    ) -> int:
        """Pushes one message; returns its id once it is durable."""
        req = pb.PushRequest(
            topic=topic, body=body, route_key=route_key, delay_ms=delay_ms, ttl_ms=ttl_ms, idempotency_key=idempotency_key
        )
        return self._unary("Push", req).id

    def push_batch(self, topic: str, messages: Iterable[BatchItem], *, route_key: str = "") -> List[int]:
        """Pushes many messages to one topic in one call, all or none; returns
        their ids in order. A bare body goes to route_key."""
        batch = []
        for m in messages:
            if isinstance(m, pb.BatchMessage):
                batch.append(m)
            elif isinstance(m, tuple):
                batch.append(pb.BatchMessage(route_key=m[0], body=m[1]))
            else:
                batch.append(pb.BatchMessage(route_key=route_key, body=m))
        return list(self._unary("PushBatch", pb.PushBatchRequest(topic=topic, messages=batch)).ids)

    # Consuming one at a time

    def pop(self, topic: str, bind_key: str, *, wait_ms: int = 0) -> Optional[pb.Message]:
        """Takes the next ready message, waiting up to wait_ms (max 60000) for
        one; None when there is none. The message is in flight until acked."""
        try:
            return self.stub.Pop(pb.PopRequest(topic=topic, bind_key=bind_key, wait_ms=wait_ms), metadata=self._metadata).message
        except grpc.RpcError as err:
            if err.code() == Code.NOT_FOUND:
                return None
            raise GmqError.from_rpc(err) from None

    def ack(self, msg: pb.Message) -> None:
        self._unary("Ack", pb.AckRequest(topic=msg.topic, bind_key=msg.bind_key, id=msg.id))

    def nack(self, msg: pb.Message, *, delay_ms: int = 0) -> None:
        """Gives a message back: ready after delay_ms (0: the topic's retry backoff, or at once)."""
        self._unary("Nack", pb.NackRequest(topic=msg.topic, bind_key=msg.bind_key, id=msg.id, delay_ms=delay_ms))

    def touch(self, msg: pb.Message, *, ttr_ms: int = 0) -> int:
        """Extends a message's deadline (0: by the topic's TTR); returns the new deadline in ms."""
        return self._unary("Touch", pb.TouchRequest(topic=msg.topic, bind_key=msg.bind_key, id=msg.id, ttr_ms=ttr_ms)).deadline_ms

    # Consuming from a stream

    def consume(self, topic: str, bind_key: str, *, max_in_flight: int = 100, max_batch_bytes: int = 0) -> "Consumer":
        """Opens a Consume stream: at most max_in_flight messages are
        delivered and not yet settled at any time."""
        return Consumer(self, topic, bind_key, max_in_flight, max_batch_bytes)

    # Dead letters

    def pop_dead(self, topic: str, bind_key: str) -> Optional[pb.Message]:
        try:
            return self.stub.PopDead(pb.PopDeadRequest(topic=topic, bind_key=bind_key), metadata=self._metadata).message
        except grpc.RpcError as err:
            if err.code() == Code.NOT_FOUND:
                return None
            raise GmqError.from_rpc(err) from None

    def list_dead(self, topic: str, bind_key: str, *, limit: int = 0) -> List[pb.Message]:
        return list(self._unary("ListDead", pb.ListDeadRequest(topic=topic, bind_key=bind_key, limit=limit)).messages)

    def redrive(self, topic: str, bind_key: str, *, limit: int = 0) -> int:
        """Moves dead letters (at most limit; 0: all) back to ready; returns how many."""
        return self._unary("Redrive", pb.RedriveRequest(topic=topic, bind_key=bind_key, limit=limit)).moved

    # Pub/sub

    def publish(self, channel: str, body: bytes) -> int:
        """Publishes to the subscribers connected now; returns how many got it."""
        return self._unary("Publish", pb.PublishRequest(channel=channel, body=body)).receivers

    def subscribe(self, *channels: str) -> "Subscription":
        return Subscription(self.stub.Subscribe(pb.SubscribeRequest(channels=channels), metadata=self._metadata))


class Subscription:
    """Iterates over published messages (SubscribeResponse) until closed."""

    def __init__(self, call) -> None:
        self._call = call

    def __iter__(self) -> Iterator[pb.SubscribeResponse]:
        try:
            yield from self._call
        except grpc.RpcError as err:
            if err.code() != Code.CANCELLED:
                raise GmqError.from_rpc(err) from None

    def close(self) -> None:
        self._call.cancel()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_END = object()


class Consumer:
    """A Consume stream. Iterate for messages (or batches() for whole
    responses); settle each with ack, nack or touch, which travel on the same
    stream. Each ack or nack returns one unit of credit, so the node keeps
    at most max_in_flight messages delivered and unsettled."""

    def __init__(self, client: Client, topic: str, bind_key: str, max_in_flight: int, max_batch_bytes: int) -> None:
        self._requests: "queue.Queue[object]" = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._requests.put(
            pb.ConsumeRequest(
                subscribe=pb.ConsumeSubscribe(
                    topic=topic, bind_key=bind_key, max_in_flight=max_in_flight, max_batch_bytes=max_batch_bytes
                )
            )
        )
        self._call = client.stub.Consume(self._outgoing(), metadata=client._metadata)

    def _outgoing(self) -> Iterator[pb.ConsumeRequest]:
        while True:
            req = self._requests.get()
            if req is _END:
                return
            yield req

    def batches(self) -> Iterator[List[pb.Message]]:
        """Yields each response's messages as a list, until the stream ends."""
        try:
            for resp in self._call:
                yield list(resp.messages)
        except grpc.RpcError as err:
            if not (self._closed and err.code() == Code.CANCELLED):
                raise GmqError.from_rpc(err) from None

    def __iter__(self) -> Iterator[pb.Message]:
        for batch in self.batches():
            yield from batch

    def _update(self, **fields) -> None:
        self._requests.put(pb.ConsumeRequest(update=pb.ConsumeUpdate(**fields)))

    def ack(self, *msgs: Union[pb.Message, int]) -> None:
        """Acks messages (or ids) in one update."""
        self._update(ack_ids=[_id(m) for m in msgs])

    def nack(self, *msgs: Union[pb.Message, int]) -> None:
        """Gives messages back to the queue (retry count unchanged)."""
        self._update(nack_ids=[_id(m) for m in msgs])

    def touch(self, *msgs: Union[pb.Message, int]) -> None:
        """Extends messages' deadlines by the topic's TTR."""
        self._update(touch_ids=[_id(m) for m in msgs])

    def add_credit(self, n: int) -> None:
        """Allows n more messages in flight."""
        self._update(credit=n)

    def close(self, grace_s: float = 5.0) -> None:
        """Sends what is queued (acks included), half-closes the stream and
        waits up to grace_s for the node to end it; messages still in flight
        go back to the queue."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._requests.put(_END)
        # The call's status arrives only once every response is read, so
        # drain (and drop) what the node sent after the last one taken.
        drained = threading.Thread(target=self._drain, daemon=True)
        drained.start()
        drained.join(grace_s)
        self._call.cancel()

    def _drain(self) -> None:
        try:
            for _ in self._call:
                pass
        except grpc.RpcError:
            pass

    def __enter__(self) -> "Consumer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _id(m: Union[pb.Message, int]) -> int:
    return m if isinstance(m, int) else m.id


def _read(path: Optional[str]) -> Optional[bytes]:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()
