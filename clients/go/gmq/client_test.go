// The Go client against a real gmq node, over mutual TLS with token auth.
// test/clients/clients.test.ts starts the node and runs `go test -json` with
// the same environment as the Python suite (see clients/python/tests/test_client.py):
// GMQ_ADDR, GMQ_CA_FILE, GMQ_CERT_FILE, GMQ_KEY_FILE, GMQ_OTHER_CA_FILE,
// GMQ_OTHER_CERT_FILE, GMQ_OTHER_KEY_FILE, GMQ_ADMIN_TOKEN, GMQ_LIMITED_TOKEN,
// GMQ_MAX_BODY_BYTES.
package gmq

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gmq/clients/go/gmqpb"

	"google.golang.org/grpc/codes"
)

// Waits for a condition on the wire end at this generous deadline; they return as soon as it holds.
const patience = 60 * time.Second

var bg = context.Background()

func env(t *testing.T, name string) string {
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set", name)
	}
	return v
}

func unique(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "go-" + prefix + "-" + hex.EncodeToString(b)
}

func dial(t *testing.T, o Options) *Client {
	c, err := Dial(env(t, "GMQ_ADDR"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// mtls are the options of a client over mutual TLS: it trusts the CA and presents its certificate.
func mtls(t *testing.T, token string) Options {
	return Options{Token: token, TLS: true, CAFile: env(t, "GMQ_CA_FILE"), CertFile: env(t, "GMQ_CERT_FILE"), KeyFile: env(t, "GMQ_KEY_FILE")}
}

func admin(t *testing.T) *Client {
	return dial(t, mtls(t, env(t, "GMQ_ADMIN_TOKEN")))
}

// must(c.Push(...))(t) is the value of a call that must succeed.
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func eq[T comparable](t *testing.T, got, want T, what string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func code(t *testing.T, err error, want codes.Code, what string) {
	t.Helper()
	if Code(err) != want {
		t.Fatalf("%s: got %v (%v), want %v", what, Code(err), err, want)
	}
}

func waitPop(t *testing.T, c *Client, topic, bindKey string) *gmqpb.Message {
	t.Helper()
	for end := time.Now().Add(patience); time.Now().Before(end); {
		if m := must(c.Pop(bg, topic, bindKey, time.Second))(t); m != nil {
			return m
		}
	}
	t.Fatalf("no message on %s/%s within %v", topic, bindKey, patience)
	return nil
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(patience); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s did not happen within %v", what, patience)
}

func config(t *testing.T, c *Client, req *gmqpb.ConfigRequest) {
	_, err := c.Raw.Config(bg, req)
	ok(t, err)
}

func u32(v uint32) *uint32 { return &v }

func TestPushPopAckRemovesTheMessage(t *testing.T) {
	c, topic := admin(t), unique("basic")
	eq(t, must(c.DeclareQueue(bg, topic, "q"))(t), true, "created")
	eq(t, must(c.DeclareQueue(bg, topic, "q"))(t), false, "created again")
	id := must(c.Push(bg, topic, "q", []byte("hello")))(t)
	m := must(c.Pop(bg, topic, "q", 0))(t)
	eq(t, m.Id, id, "id")
	eq(t, string(m.Body), "hello", "body")
	eq(t, m.Retry, uint32(0), "retry")
	ok(t, c.Ack(bg, m))
	eq(t, must(c.Pop(bg, topic, "q", 0))(t) == nil, true, "queue empty after ack")
	s := must(c.QueueStat(bg, topic, "q"))(t)
	eq(t, fmt.Sprint(s.Pushed, s.Acked, s.Ready, s.InFlight), "1 1 0 0", "pushed acked ready in_flight")
}

func TestIdsAbove2To53RoundTripExactly(t *testing.T) {
	c, topic := admin(t), unique("ids")
	must(c.DeclareQueue(bg, topic, "q"))(t)
	bodies := make([][]byte, 16)
	for i := range bodies {
		bodies[i] = []byte(strconv.Itoa(i))
	}
	ids := must(c.PushBatch(bg, topic, "q", bodies...))(t)
	lossy := false
	for _, id := range ids {
		if id <= 1<<53 {
			t.Fatalf("id %d is not above 2^53", id)
		}
		if uint64(float64(id)) != id {
			lossy = true
		}
	}
	eq(t, lossy, true, "some id is not representable as a float64")
	for _, id := range ids {
		m := must(c.Pop(bg, topic, "q", 0))(t)
		eq(t, m.Id, id, "popped id")
		_, err := c.Raw.Ack(bg, &gmqpb.AckRequest{Topic: topic, BindKey: "q", Id: id})
		ok(t, err)
	}
	eq(t, must(c.QueueStat(bg, topic, "q"))(t).Acked, uint64(16), "acked")
}

func TestPushBatchStoresEveryMessageInOrder(t *testing.T) {
	c, topic := admin(t), unique("batch")
	must(c.DeclareQueue(bg, topic, "a"))(t)
	must(c.DeclareQueue(bg, topic, "b"))(t)
	r := must(c.Raw.PushBatch(bg, &gmqpb.PushBatchRequest{Topic: topic, Messages: []*gmqpb.BatchMessage{
		{RouteKey: "a", Body: []byte("1")}, {RouteKey: "b", Body: []byte("2")}, {RouteKey: "a", Body: []byte("3")},
	}}))(t)
	eq(t, len(r.Ids), 3, "ids")
	eq(t, r.Ids[0] < r.Ids[1] && r.Ids[1] < r.Ids[2], true, "ids increase")
	eq(t, string(must(c.Pop(bg, topic, "a", 0))(t).Body), "1", "first on a")
	eq(t, string(must(c.Pop(bg, topic, "a", 0))(t).Body), "3", "second on a")
	eq(t, must(c.Pop(bg, topic, "b", 0))(t).Id, r.Ids[1], "on b")
}

func TestConsumeNeverHasMoreInFlightThanItsCreditAndAcksReturnCredit(t *testing.T) {
	c, topic := admin(t), unique("consume")
	must(c.DeclareQueue(bg, topic, "q"))(t)
	var want []string
	var bodies [][]byte
	for i := 0; i < 10; i++ {
		want = append(want, fmt.Sprintf("c%d", i))
		bodies = append(bodies, []byte(want[i]))
	}
	must(c.PushBatch(bg, topic, "q", bodies...))(t)
	consumer := must(c.Consume(bg, topic, "q", 3))(t)
	defer consumer.Close(5 * time.Second)
	var got []string
	held := map[uint64]bool{}
	mostHeld := 0
	for len(got) < 10 {
		batch := must(consumer.Recv())(t)
		for _, m := range batch {
			held[m.Id] = true
			got = append(got, string(m.Body))
		}
		if len(held) > mostHeld {
			mostHeld = len(held)
		}
		if len(held) > 3 {
			t.Fatalf("%d messages in flight with credit 3", len(held))
		}
		if len(got) == 3 {
			s := must(c.QueueStat(bg, topic, "q"))(t)
			eq(t, fmt.Sprint(s.InFlight, s.Ready), "3 7", "in_flight ready")
		}
		// Settle one per turn: the node may send one more per ack.
		var oldest uint64 = math.MaxUint64
		for id := range held {
			if id < oldest {
				oldest = id
			}
		}
		delete(held, oldest)
		ok(t, consumer.Ack(oldest))
	}
	for id := range held {
		ok(t, consumer.Ack(id))
	}
	eq(t, strings.Join(got, ","), strings.Join(want, ","), "bodies in order")
	eq(t, mostHeld, 3, "most held")
	waitUntil(t, "ten acks", func() bool { return must(c.QueueStat(bg, topic, "q"))(t).Acked == 10 })
}

func TestAddedCreditLetsMoreMessagesInFlightWithoutAcks(t *testing.T) {
	c, topic := admin(t), unique("credit")
	must(c.DeclareQueue(bg, topic, "q"))(t)
	must(c.PushBatch(bg, topic, "q", []byte("0"), []byte("1"), []byte("2"), []byte("3"), []byte("4")))(t)
	consumer := must(c.Consume(bg, topic, "q", 1))(t)
	defer consumer.Close(5 * time.Second)
	held := must(consumer.Recv())(t)
	eq(t, len(held), 1, "held with credit 1")
	ok(t, consumer.AddCredit(2))
	for len(held) < 3 {
		held = append(held, must(consumer.Recv())(t)...)
	}
	eq(t, string(held[0].Body)+string(held[1].Body)+string(held[2].Body), "012", "bodies in order")
	s := must(c.QueueStat(bg, topic, "q"))(t)
	eq(t, fmt.Sprint(s.InFlight, s.Ready), "3 2", "in_flight ready")
	ok(t, consumer.Ack(held[0].Id, held[1].Id, held[2].Id))
}

func TestANackOnTheStreamMakesTheMessageReadyAgainWithItsRetryCount(t *testing.T) {
	c, topic := admin(t), unique("nack")
	must(c.DeclareQueue(bg, topic, "q"))(t)
	id := must(c.Push(bg, topic, "q", []byte("again")))(t)
	consumer := must(c.Consume(bg, topic, "q", 1))(t)
	defer consumer.Close(5 * time.Second)
	first := must(consumer.Recv())(t)
	ok(t, consumer.Nack(first[0].Id))
	second := must(consumer.Recv())(t)
	ok(t, consumer.Ack(second[0].Id))
	eq(t, first[0].Id, id, "first id")
	eq(t, second[0].Id, id, "second id")
	eq(t, second[0].Retry, uint32(0), "retry after nack")
}

func TestADelayedMessageArrivesAfterItsDelay(t *testing.T) {
	c, topic := admin(t), unique("delay")
	must(c.DeclareQueue(bg, topic, "q"))(t)
	start := time.Now()
	id := must(c.PushWith(bg, &gmqpb.PushRequest{Topic: topic, RouteKey: "q", Body: []byte("later"), DelayMs: 1500}))(t)
	m := waitPop(t, c, topic, "q")
	eq(t, m.Id, id, "id")
	if elapsed := time.Since(start); elapsed < 1500*time.Millisecond {
		t.Fatalf("arrived after %v, before its 1.5 s delay", elapsed)
	}
	ok(t, c.Ack(bg, m))
}

func TestRedeliversAfterTheTTRWithRetryCountThenDeadLettersAndRedrives(t *testing.T) {
	c, topic := admin(t), unique("ttr")
	config(t, c, &gmqpb.ConfigRequest{Topic: topic, MsgTtr: 1, MsgRetry: u32(1)})
	must(c.DeclareQueue(bg, topic, "q"))(t)
	id := must(c.Push(bg, topic, "q", []byte("slow")))(t)
	first := must(c.Pop(bg, topic, "q", 0))(t)
	eq(t, fmt.Sprint(first.Id, first.Retry), fmt.Sprint(id, 0), "first delivery")
	again := waitPop(t, c, topic, "q")
	eq(t, fmt.Sprint(again.Id, again.Retry), fmt.Sprint(id, 1), "redelivery after the TTR")
	var dead []*gmqpb.Message
	waitUntil(t, "the dead letter", func() bool {
		dead = must(c.Raw.ListDead(bg, &gmqpb.ListDeadRequest{Topic: topic, BindKey: "q"}))(t).Messages
		return len(dead) > 0
	})
	eq(t, len(dead), 1, "dead letters")
	eq(t, dead[0].Id, id, "dead id")
	eq(t, must(c.Raw.Redrive(bg, &gmqpb.RedriveRequest{Topic: topic, BindKey: "q"}))(t).Moved, uint64(1), "moved")
	back := must(c.Pop(bg, topic, "q", 0))(t)
	eq(t, fmt.Sprint(back.Id, back.Retry, string(back.Body)), fmt.Sprint(id, 0, "slow"), "redriven")
	ok(t, c.Ack(bg, back))
}

func TestPopDeadTakesTheOldestDeadLetter(t *testing.T) {
	c, topic := admin(t), unique("popdead")
	config(t, c, &gmqpb.ConfigRequest{Topic: topic, MsgTtr: 1, MsgRetry: u32(0)})
	must(c.DeclareQueue(bg, topic, "q"))(t)
	id := must(c.Push(bg, topic, "q", []byte("doomed")))(t)
	must(c.Pop(bg, topic, "q", 0))(t)
	waitUntil(t, "the dead letter", func() bool {
		return len(must(c.Raw.ListDead(bg, &gmqpb.ListDeadRequest{Topic: topic, BindKey: "q"}))(t).Messages) > 0
	})
	dead := must(c.Raw.PopDead(bg, &gmqpb.PopDeadRequest{Topic: topic, BindKey: "q"}))(t)
	eq(t, dead.Message.Id, id, "dead id")
	_, err := c.Raw.PopDead(bg, &gmqpb.PopDeadRequest{Topic: topic, BindKey: "q"})
	code(t, err, codes.NotFound, "no more dead letters")
}

func TestRegexRoutingCopiesAPushToEveryQueueThePatternMatches(t *testing.T) {
	c, topic := admin(t), unique("regex")
	config(t, c, &gmqpb.ConfigRequest{Topic: topic, RouteMode: gmqpb.RouteMode_ROUTE_MODE_REGEX})
	for _, q := range []string{"eu.paid", "eu.new", "us.paid"} {
		must(c.DeclareQueue(bg, topic, q))(t)
	}
	r := must(c.Raw.Push(bg, &gmqpb.PushRequest{Topic: topic, RouteKey: `eu\..*`, Body: []byte("r")}))(t)
	eq(t, r.Queues, uint32(2), "queues")
	eq(t, must(c.Pop(bg, topic, "eu.paid", 0))(t).Id, r.Id, "eu.paid")
	eq(t, must(c.Pop(bg, topic, "eu.new", 0))(t).Id, r.Id, "eu.new")
	eq(t, must(c.Pop(bg, topic, "us.paid", 0))(t) == nil, true, "us.paid empty")
}

func TestWildcardRoutingMatchesWordsWithStarAndHash(t *testing.T) {
	c, topic := admin(t), unique("wild")
	config(t, c, &gmqpb.ConfigRequest{Topic: topic, RouteMode: gmqpb.RouteMode_ROUTE_MODE_WILDCARD})
	for _, q := range []string{"order.*.paid", "order.#", "invoice.*"} {
		must(c.DeclareQueue(bg, topic, q))(t)
	}
	id := must(c.Push(bg, topic, "order.eu.paid", []byte("w")))(t)
	eq(t, must(c.Pop(bg, topic, "order.*.paid", 0))(t).Id, id, "order.*.paid")
	eq(t, must(c.Pop(bg, topic, "order.#", 0))(t).Id, id, "order.#")
	eq(t, must(c.QueueStat(bg, topic, "invoice.*"))(t).Pushed, uint64(0), "invoice.* untouched")
}

func TestASubscriberReceivesWhatIsPublishedWhileItListens(t *testing.T) {
	c, channel := admin(t), unique("news")
	sub := must(c.Subscribe(bg, channel))(t)
	defer sub.Close()
	got := make(chan *gmqpb.SubscribeResponse, 1)
	var once sync.Once
	go func() {
		for {
			m, err := sub.Recv()
			if err != nil {
				return
			}
			if string(m.Body) == "hello" {
				once.Do(func() { got <- m })
			}
		}
	}()
	// The subscription is registered when a publish reaches one receiver.
	waitUntil(t, "the subscription", func() bool { return must(c.Publish(bg, channel, []byte("warm-up")))(t) == 1 })
	eq(t, must(c.Publish(bg, channel, []byte("hello")))(t), uint32(1), "receivers")
	m := <-got
	eq(t, m.Channel, channel, "channel")
}

func TestATokenIsRequiredAndItsGrantsAreEnforced(t *testing.T) {
	c := admin(t)
	must(c.DeclareQueue(bg, "limited", "go"))(t)
	anonymous := dial(t, mtls(t, ""))
	eq(t, must(anonymous.Raw.Ping(bg, &gmqpb.PingRequest{}))(t).NodeId, uint32(1), "ping without a token")
	_, err := anonymous.Push(bg, "limited", "go", []byte("x"))
	code(t, err, codes.Unauthenticated, "push without a token")
	_, err = dial(t, mtls(t, "not-a-token-we-know")).Push(bg, "limited", "go", []byte("x"))
	code(t, err, codes.Unauthenticated, "push with an unknown token")
	limited := dial(t, mtls(t, env(t, "GMQ_LIMITED_TOKEN")))
	id := must(limited.Push(bg, "limited", "go", []byte("allowed")))(t)
	_, err = limited.Pop(bg, "limited", "go", 0)
	code(t, err, codes.PermissionDenied, "pop without a consume grant")
	_, err = limited.Push(bg, unique("other"), "", []byte("x"))
	code(t, err, codes.PermissionDenied, "push to another topic")
	eq(t, must(c.Pop(bg, "limited", "go", 0))(t).Id, id, "the allowed push")
}

func TestMutualTLSIsRequiredWithCertificatesFromTheCA(t *testing.T) {
	addr := env(t, "GMQ_ADDR")
	ctx, cancel := context.WithTimeout(bg, patience)
	defer cancel()
	refused := func(o Options, what string) {
		t.Helper()
		_, err := dial(t, o).Raw.Ping(ctx, &gmqpb.PingRequest{})
		code(t, err, codes.Unavailable, what)
	}
	refused(Options{}, "plaintext to a TLS node")
	withOtherCA := mtls(t, "")
	withOtherCA.CAFile = env(t, "GMQ_OTHER_CA_FILE")
	refused(withOtherCA, "TLS trusting another CA")
	refused(Options{TLS: true, CAFile: env(t, "GMQ_CA_FILE")}, "TLS without a client certificate")
	foreign := mtls(t, "")
	foreign.CertFile, foreign.KeyFile = env(t, "GMQ_OTHER_CERT_FILE"), env(t, "GMQ_OTHER_KEY_FILE")
	refused(foreign, "a client certificate from another CA")
	byName, err := Dial(strings.Replace(addr, "127.0.0.1", "localhost", 1), mtls(t, ""))
	ok(t, err)
	defer byName.Close()
	eq(t, must(byName.Raw.Ping(bg, &gmqpb.PingRequest{}))(t).NodeId, uint32(1), "ping by name")
}

func TestBadInputGetsItsExactStatusCode(t *testing.T) {
	c, topic := admin(t), unique("codes")
	maxBody := must(strconv.Atoi(env(t, "GMQ_MAX_BODY_BYTES")))(t)
	must(c.DeclareQueue(bg, topic, "q"))(t)
	_, err := c.Push(bg, "bad topic!", "", []byte("x"))
	code(t, err, codes.InvalidArgument, "bad topic name")
	_, err = c.PushWith(bg, &gmqpb.PushRequest{Topic: topic, RouteKey: "q", DelayMs: 10 * 366 * 86400000})
	code(t, err, codes.InvalidArgument, "delay over a year")
	_, err = c.Raw.Config(bg, &gmqpb.ConfigRequest{Topic: topic, MsgTtr: 86401})
	code(t, err, codes.InvalidArgument, "TTR over a day")
	_, err = c.Raw.GetTopicStat(bg, &gmqpb.GetTopicStatRequest{Topic: unique("missing")})
	code(t, err, codes.NotFound, "unknown topic")
	_, err = c.Raw.Pop(bg, &gmqpb.PopRequest{Topic: topic, BindKey: "q"})
	code(t, err, codes.NotFound, "empty queue")
	_, err = c.Raw.Ack(bg, &gmqpb.AckRequest{Topic: topic, BindKey: "q", Id: 1<<63 + 5})
	code(t, err, codes.NotFound, "unknown id")
	_, err = c.Push(bg, topic, "nowhere", []byte("x"))
	code(t, err, codes.FailedPrecondition, "no queue matches")
	big := bytes.Repeat([]byte("x"), maxBody+1)
	_, err = c.Push(bg, topic, "q", big)
	code(t, err, codes.ResourceExhausted, "body over the limit")
	_, err = c.PushBatch(bg, topic, "q", []byte("ok"), big)
	code(t, err, codes.ResourceExhausted, "batch with a body over the limit")
	eq(t, must(c.QueueStat(bg, topic, "q"))(t).Pushed, uint64(0), "nothing of the batch stored")
	_, err = dial(t, mtls(t, "")).Raw.GetTopicStat(bg, &gmqpb.GetTopicStatRequest{Topic: topic})
	code(t, err, codes.Unauthenticated, "no token")
	_, err = dial(t, mtls(t, env(t, "GMQ_LIMITED_TOKEN"))).Raw.GetTopicStat(bg, &gmqpb.GetTopicStatRequest{Topic: topic})
	code(t, err, codes.PermissionDenied, "no admin grant")
}
