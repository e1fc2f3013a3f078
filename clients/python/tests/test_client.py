"""The Python client against a real gmq node, over mutual TLS with token auth.

test/clients/clients.test.ts starts the node and runs this with:
  GMQ_ADDR            host:port of the node's gRPC listener (TLS)
  GMQ_CA_FILE         PEM of the throwaway CA that signed the node's certificate
                      and the client certificates the node accepts
  GMQ_CERT_FILE       PEM client certificate signed by that CA, and its key
  GMQ_KEY_FILE
  GMQ_OTHER_CA_FILE   PEM of an unrelated CA, a client certificate it signed
  GMQ_OTHER_CERT_FILE and its key
  GMQ_OTHER_KEY_FILE
  GMQ_ADMIN_TOKEN     token with every grant on every topic
  GMQ_LIMITED_TOKEN   token that may only push to topic "limited"
  GMQ_MAX_BODY_BYTES  the node's --max-body-bytes
Run by hand: cd clients/python && ./generate.sh && python3 -m unittest -v tests.test_client
"""

import os
import threading
import time
import unittest
import uuid

from gmq import Client, Code, GmqError
from gmq.v1 import broker_pb2 as pb

ADDR = os.environ["GMQ_ADDR"]
CA = os.environ["GMQ_CA_FILE"]
CERT = os.environ["GMQ_CERT_FILE"]
KEY = os.environ["GMQ_KEY_FILE"]
OTHER_CA = os.environ["GMQ_OTHER_CA_FILE"]
OTHER_CERT = os.environ["GMQ_OTHER_CERT_FILE"]
OTHER_KEY = os.environ["GMQ_OTHER_KEY_FILE"]
ADMIN = os.environ["GMQ_ADMIN_TOKEN"]
LIMITED = os.environ["GMQ_LIMITED_TOKEN"]
MAX_BODY = int(os.environ["GMQ_MAX_BODY_BYTES"])
# Waits for a condition on the wire end at this generous deadline; they return as soon as it holds.
PATIENCE_S = 60.0


def unique(prefix: str) -> str:
    return f"py-{prefix}-{uuid.uuid4().hex[:10]}"


def connect(token=None, addr: str = ADDR) -> Client:
    """A client over mutual TLS: trusts the CA, presents its certificate."""
    return Client(addr, token=token, tls=True, ca_file=CA, cert_file=CERT, key_file=KEY)


def admin() -> Client:
    return connect(ADMIN)


def wait_pop(c: Client, topic: str, bind_key: str) -> pb.Message:
    """Long-polls until a message is ready."""
    end = time.monotonic() + PATIENCE_S
    while time.monotonic() < end:
        msg = c.pop(topic, bind_key, wait_ms=1000)
        if msg is not None:
            return msg
    raise AssertionError(f"no message on {topic}/{bind_key} within {PATIENCE_S}s")


def wait_until(cond, what: str):
    end = time.monotonic() + PATIENCE_S
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {PATIENCE_S}s")


def code_of(fn) -> Code:
    try:
        fn()
    except GmqError as err:
        return err.code
    raise AssertionError("expected the call to fail")


class ClientTest(unittest.TestCase):
    def setUp(self) -> None:
        self.c = admin()

    def tearDown(self) -> None:
        self.c.close()

    def test_push_pop_ack_removes_the_message(self) -> None:
        t = unique("basic")
        self.assertTrue(self.c.declare_queue(t, "q"))
        self.assertFalse(self.c.declare_queue(t, "q"))
        mid = self.c.push(t, b"hello", route_key="q")
        msg = self.c.pop(t, "q")
        self.assertEqual((msg.id, msg.body, msg.topic, msg.bind_key, msg.retry), (mid, b"hello", t, "q", 0))
        self.c.ack(msg)
        self.assertIsNone(self.c.pop(t, "q"))
        stat = self.c.queue_stat(t, "q")
        self.assertEqual((stat.pushed, stat.acked, stat.ready, stat.in_flight), (1, 1, 0, 0))

    def test_ids_above_2_to_53_round_trip_exactly(self) -> None:
        t = unique("ids")
        self.c.declare_queue(t, "q")
        ids = self.c.push_batch(t, [b"m%d" % i for i in range(16)], route_key="q")
        self.assertEqual(len(set(ids)), 16)
        self.assertTrue(all(i > 2**53 for i in ids))
        # A client holding ids as float64 would have lost the low bits of at least one.
        self.assertTrue(any(int(float(i)) != i for i in ids))
        popped = [self.c.pop(t, "q").id for _ in ids]
        self.assertEqual(popped, ids)
        for i in popped:
            # The exact id is what the node knows the message by.
            self.c.stub.Ack(pb.AckRequest(topic=t, bind_key="q", id=i), metadata=(("authorization", f"Bearer {ADMIN}"),))
        self.assertEqual(self.c.queue_stat(t, "q").acked, 16)

    def test_push_batch_stores_every_message_in_order(self) -> None:
        t = unique("batch")
        self.c.declare_queue(t, "a")
        self.c.declare_queue(t, "b")
        ids = self.c.push_batch(t, [("a", b"1"), ("b", b"2"), pb.BatchMessage(route_key="a", body=b"3")])
        self.assertEqual(len(ids), 3)
        self.assertEqual(ids, sorted(ids))
        self.assertEqual([self.c.pop(t, "a").body, self.c.pop(t, "a").body], [b"1", b"3"])
        self.assertEqual(self.c.pop(t, "b").id, ids[1])

    def test_consume_never_has_more_in_flight_than_its_credit_and_acks_return_credit(self) -> None:
        t = unique("consume")
        self.c.declare_queue(t, "q")
        bodies = [b"c%d" % i for i in range(10)]
        self.c.push_batch(t, bodies, route_key="q")
        received, held, most_held = [], set(), 0
        with self.c.consume(t, "q", max_in_flight=3) as consumer:
            for batch in consumer.batches():
                held.update(m.id for m in batch)
                received.extend(m.body for m in batch)
                most_held = max(most_held, len(held))
                self.assertLessEqual(len(held), 3)
                if len(received) == 3:
                    stat = self.c.queue_stat(t, "q")
                    self.assertEqual((stat.in_flight, stat.ready), (3, 7))
                # Settle one per turn: the node may send one more per ack.
                oldest = min(held)
                held.discard(oldest)
                consumer.ack(oldest)
                if len(received) == 10:
                    break
            consumer.ack(*held)
        self.assertEqual(received, bodies)
        self.assertEqual(most_held, 3)
        wait_until(lambda: self.c.queue_stat(t, "q").acked == 10, "ten acks")

    def test_added_credit_lets_more_messages_in_flight_without_acks(self) -> None:
        t = unique("credit")
        self.c.declare_queue(t, "q")
        self.c.push_batch(t, [b"%d" % i for i in range(5)], route_key="q")
        with self.c.consume(t, "q", max_in_flight=1) as consumer:
            batches = consumer.batches()
            held = next(batches)
            self.assertEqual(len(held), 1)
            consumer.add_credit(2)
            while len(held) < 3:
                held += next(batches)
            self.assertEqual([m.body for m in held], [b"0", b"1", b"2"])
            stat = self.c.queue_stat(t, "q")
            self.assertEqual((stat.in_flight, stat.ready), (3, 2))
            consumer.ack(*held)

    def test_a_nack_on_the_stream_makes_the_message_ready_again_with_its_retry_count(self) -> None:
        t = unique("nack")
        self.c.declare_queue(t, "q")
        mid = self.c.push(t, b"again", route_key="q")
        with self.c.consume(t, "q", max_in_flight=1) as consumer:
            it = iter(consumer)
            first = next(it)
            consumer.nack(first)
            second = next(it)
            consumer.ack(second)
        self.assertEqual((first.id, second.id, second.retry), (mid, mid, 0))

    def test_a_delayed_message_arrives_after_its_delay(self) -> None:
        t = unique("delay")
        self.c.declare_queue(t, "q")
        start = time.monotonic()
        mid = self.c.push(t, b"later", route_key="q", delay_ms=1500)
        msg = wait_pop(self.c, t, "q")
        self.assertEqual(msg.id, mid)
        self.assertGreaterEqual(time.monotonic() - start, 1.5)
        self.c.ack(msg)

    def test_redelivers_after_the_ttr_with_retry_count_then_dead_letters_and_redrives(self) -> None:
        t = unique("ttr")
        self.c.config(t, msg_ttr=1, msg_retry=1)
        self.c.declare_queue(t, "q")
        mid = self.c.push(t, b"slow", route_key="q")
        first = self.c.pop(t, "q")
        self.assertEqual((first.id, first.retry), (mid, 0))
        again = wait_pop(self.c, t, "q")  # not acked: back after its TTR
        self.assertEqual((again.id, again.retry), (mid, 1))
        # Not acked again: one redelivery allowed, so it becomes a dead letter.
        dead = wait_until(lambda: self.c.list_dead(t, "q"), "the dead letter")
        self.assertEqual([m.id for m in dead], [mid])
        self.assertEqual(self.c.redrive(t, "q"), 1)
        back = self.c.pop(t, "q")
        self.assertEqual((back.id, back.retry, back.body), (mid, 0, b"slow"))
        self.c.ack(back)
        self.assertEqual(self.c.list_dead(t, "q"), [])

    def test_pop_dead_takes_the_oldest_dead_letter(self) -> None:
        t = unique("popdead")
        self.c.config(t, msg_ttr=1, msg_retry=0)
        self.c.declare_queue(t, "q")
        mid = self.c.push(t, b"doomed", route_key="q")
        self.c.pop(t, "q")
        wait_until(lambda: self.c.list_dead(t, "q"), "the dead letter")
        dead = self.c.pop_dead(t, "q")
        self.assertEqual((dead.id, dead.body), (mid, b"doomed"))
        self.assertIsNone(self.c.pop_dead(t, "q"))

    def test_regex_routing_copies_a_push_to_every_queue_the_pattern_matches(self) -> None:
        t = unique("regex")
        self.c.config(t, route_mode=pb.ROUTE_MODE_REGEX)
        for q in ("eu.paid", "eu.new", "us.paid"):
            self.c.declare_queue(t, q)
        resp = self.c.stub.Push(
            pb.PushRequest(topic=t, route_key=r"eu\..*", body=b"r"), metadata=(("authorization", f"Bearer {ADMIN}"),)
        )
        self.assertEqual(resp.queues, 2)
        self.assertEqual(self.c.pop(t, "eu.paid").id, resp.id)
        self.assertEqual(self.c.pop(t, "eu.new").id, resp.id)
        self.assertIsNone(self.c.pop(t, "us.paid"))

    def test_wildcard_routing_matches_words_with_star_and_hash(self) -> None:
        t = unique("wild")
        self.c.config(t, route_mode=pb.ROUTE_MODE_WILDCARD)
        for q in ("order.*.paid", "order.#", "invoice.*"):
            self.c.declare_queue(t, q)
        mid = self.c.push(t, b"w", route_key="order.eu.paid")
        self.assertEqual(self.c.pop(t, "order.*.paid").id, mid)
        self.assertEqual(self.c.pop(t, "order.#").id, mid)
        self.assertIsNone(self.c.pop(t, "invoice.*"))
        self.assertEqual(self.c.queue_stat(t, "invoice.*").pushed, 0)

    def test_a_subscriber_receives_what_is_published_while_it_listens(self) -> None:
        channel = unique("news")
        got = []
        with self.c.subscribe(channel) as sub:
            def listen() -> None:
                for m in sub:
                    if m.body == b"hello":
                        got.append(m)
                        return
            listener = threading.Thread(target=listen)
            listener.start()
            # The subscription is registered when a publish reaches one receiver.
            wait_until(lambda: self.c.publish(channel, b"warm-up") == 1, "the subscription")
            self.assertEqual(self.c.publish(channel, b"hello"), 1)
            listener.join(PATIENCE_S)
        self.assertEqual([(m.channel, m.body) for m in got], [(channel, b"hello")])

    def test_a_token_is_required_and_its_grants_are_enforced(self) -> None:
        t = "limited"
        self.c.declare_queue(t, "q")
        with connect() as anonymous:
            self.assertEqual(anonymous.ping().node_id, 1)
            self.assertEqual(code_of(lambda: anonymous.push(t, b"x", route_key="q")), Code.UNAUTHENTICATED)
        with connect("not-a-token-we-know") as stranger:
            self.assertEqual(code_of(lambda: stranger.push(t, b"x", route_key="q")), Code.UNAUTHENTICATED)
        with connect(LIMITED) as limited:
            mid = limited.push(t, b"allowed", route_key="q")
            self.assertGreater(mid, 0)
            self.assertEqual(code_of(lambda: limited.pop(t, "q")), Code.PERMISSION_DENIED)
            self.assertEqual(code_of(lambda: limited.push(unique("other"), b"x")), Code.PERMISSION_DENIED)
            self.assertEqual(code_of(lambda: limited.config(t, msg_ttr=5)), Code.PERMISSION_DENIED)
        self.assertEqual(self.c.pop(t, "q").id, mid)

    def test_mutual_tls_is_required_with_certificates_from_the_ca(self) -> None:
        with Client(ADDR, token=ADMIN) as plaintext:
            self.assertEqual(code_of(plaintext.ping), Code.UNAVAILABLE)
        with Client(ADDR, tls=True, ca_file=OTHER_CA, cert_file=CERT, key_file=KEY) as untrusting:
            self.assertEqual(code_of(untrusting.ping), Code.UNAVAILABLE)
        with Client(ADDR, token=ADMIN, tls=True, ca_file=CA) as no_certificate:
            self.assertEqual(code_of(no_certificate.ping), Code.UNAVAILABLE)
        with Client(ADDR, token=ADMIN, tls=True, ca_file=CA, cert_file=OTHER_CERT, key_file=OTHER_KEY) as foreign:
            self.assertEqual(code_of(foreign.ping), Code.UNAVAILABLE)
        with connect(ADMIN, ADDR.replace("127.0.0.1", "localhost")) as by_name:
            self.assertEqual(by_name.ping().node_id, 1)

    def test_bad_input_gets_its_exact_status_code(self) -> None:
        t = unique("codes")
        self.c.declare_queue(t, "q")
        self.assertEqual(code_of(lambda: self.c.push("bad topic!", b"x")), Code.INVALID_ARGUMENT)
        self.assertEqual(code_of(lambda: self.c.push(t, b"x", route_key="q", delay_ms=10 * 366 * 86400000)), Code.INVALID_ARGUMENT)
        self.assertEqual(code_of(lambda: self.c.config(t, msg_ttr=86401)), Code.INVALID_ARGUMENT)
        self.assertEqual(code_of(lambda: self.c.topic_stat(unique("missing"))), Code.NOT_FOUND)
        self.assertEqual(
            code_of(lambda: self.c._unary("Pop", pb.PopRequest(topic=t, bind_key="q"))), Code.NOT_FOUND
        )  # empty queue
        self.assertEqual(code_of(lambda: self.c.ack(pb.Message(topic=t, bind_key="q", id=2**63 + 5))), Code.NOT_FOUND)
        self.assertEqual(code_of(lambda: self.c.push(t, b"x", route_key="nowhere")), Code.FAILED_PRECONDITION)
        self.assertEqual(code_of(lambda: self.c.push(t, b"x" * (MAX_BODY + 1), route_key="q")), Code.RESOURCE_EXHAUSTED)
        self.assertEqual(
            code_of(lambda: self.c.push_batch(t, [b"ok", b"x" * (MAX_BODY + 1)], route_key="q")), Code.RESOURCE_EXHAUSTED
        )
        self.assertEqual(self.c.queue_stat(t, "q").pushed, 0)  # the whole batch was refused
        with connect() as anonymous:
            self.assertEqual(code_of(lambda: anonymous.topic_stat(t)), Code.UNAUTHENTICATED)
        with connect(LIMITED) as limited:
            self.assertEqual(code_of(lambda: limited.topic_stat(t)), Code.PERMISSION_DENIED)


if __name__ == "__main__":
    unittest.main()
