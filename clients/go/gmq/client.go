// Package gmq is a thin helper over gmq's generated gRPC client
// (package gmqpb, made by ../generate.sh): it dials with a bearer token and
// TLS, wraps the calls producers and workers make most, and drives the
// Consume stream (credit, acks, nacks, touches). Everything else is on
// Client.Raw, the generated client. Errors are gRPC status errors: branch on
// Code(err), never on the message text.
//
//	c, err := gmq.Dial("127.0.0.1:9503", gmq.Options{Token: "..."})
//	id, err := c.Push(ctx, "orders", "paid", []byte("hello"))
//	consumer, err := c.Consume(ctx, "orders", "paid", 10)
//	for { msgs, err := consumer.Recv(); ...; consumer.Ack(ids...) }
//
// Message ids are uint64, exact over their whole range.
package gmq

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"gmq/clients/go/gmqpb"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// Options of Dial. The zero value dials in plaintext without a token.
type Options struct {
	// Token is sent as "authorization: Bearer <token>" on every call (nodes
	// started with --auth-file).
	Token string
	// TLS turns on TLS. CAFile is the PEM CA to trust (empty: the system's
	// roots); CertFile and KeyFile give a client certificate for mutual TLS;
	// ServerName overrides the name checked in the node's certificate.
	TLS        bool
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string
	// DialOptions are appended to the helper's own.
	DialOptions []grpc.DialOption
}

// Client is one connection to a gmq node.
type Client struct {
	// Raw is the generated client, for anything the helper does not cover.
	Raw  gmqpb.BrokerServiceClient
	conn *grpc.ClientConn
}

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false so a token also works on loopback without TLS.
func (bearer) RequireTransportSecurity() bool { return false }

// DefaultAddr is the node's default gRPC address (gnode --grpc-addr).
const DefaultAddr = "127.0.0.1:9503"

// DialEnv dials GMQ_ADDR (DefaultAddr when unset) with the token in
// GMQ_TOKEN, as the examples and the gmq CLI read them.
func DialEnv() (*Client, error) {
	addr := os.Getenv("GMQ_ADDR")
	if addr == "" {
		addr = DefaultAddr
	}
	return Dial(addr, Options{Token: os.Getenv("GMQ_TOKEN")})
}

// Dial connects to the gRPC listener at addr ("host:port"). The connection
// is made lazily; the first call reports a node that cannot be reached.
func Dial(addr string, o Options) (*Client, error) {
	var dial []grpc.DialOption
	if o.TLS {
		cfg := &tls.Config{ServerName: o.ServerName, MinVersion: tls.VersionTLS12}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, err
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("gmq: no certificate in %s", o.CAFile)
			}
		}
		if o.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
			if err != nil {
				return nil, err
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		dial = append(dial, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	} else {
		dial = append(dial, grpc.WithInsecure())
	}
	if o.Token != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(bearer(o.Token)))
	}
	conn, err := grpc.Dial(addr, append(dial, o.DialOptions...)...)
	if err != nil {
		return nil, err
	}
	return &Client{Raw: gmqpb.NewBrokerServiceClient(conn), conn: conn}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Code is the gRPC status code of an error a call returned (codes.OK for nil).
func Code(err error) codes.Code { return status.Code(err) }

// DeclareQueue declares a queue; created is false when it already existed.
func (c *Client) DeclareQueue(ctx context.Context, topic, bindKey string) (created bool, err error) {
	r, err := c.Raw.DeclareQueue(ctx, &gmqpb.DeclareQueueRequest{Topic: topic, BindKey: bindKey})
	if err != nil {
		return false, err
	}
	return r.Created, nil
}

// QueueStat returns the counters of one queue.
func (c *Client) QueueStat(ctx context.Context, topic, bindKey string) (*gmqpb.QueueStat, error) {
	r, err := c.Raw.GetTopicStat(ctx, &gmqpb.GetTopicStatRequest{Topic: topic})
	if err != nil {
		return nil, err
	}
	for _, q := range r.Stat.Queues {
		if q.BindKey == bindKey {
			return q, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "no queue %q in topic %q", bindKey, topic)
}

// Push pushes one message and returns its id once it is durable.
func (c *Client) Push(ctx context.Context, topic, routeKey string, body []byte) (uint64, error) {
	return c.PushWith(ctx, &gmqpb.PushRequest{Topic: topic, RouteKey: routeKey, Body: body})
}

// PushWith pushes one message with every option of PushRequest (delay, ttl, idempotency key).
func (c *Client) PushWith(ctx context.Context, req *gmqpb.PushRequest) (uint64, error) {
	r, err := c.Raw.Push(ctx, req)
	if err != nil {
		return 0, err
	}
	return r.Id, nil
}

// PushBatch pushes bodies to one route key of a topic in one call, all or
// none; it returns their ids in order.
func (c *Client) PushBatch(ctx context.Context, topic, routeKey string, bodies ...[]byte) ([]uint64, error) {
	msgs := make([]*gmqpb.BatchMessage, len(bodies))
	for i, b := range bodies {
		msgs[i] = &gmqpb.BatchMessage{RouteKey: routeKey, Body: b}
	}
	r, err := c.Raw.PushBatch(ctx, &gmqpb.PushBatchRequest{Topic: topic, Messages: msgs})
	if err != nil {
		return nil, err
	}
	return r.Ids, nil
}

// Pop takes the next ready message, waiting up to wait (at most a minute)
// for one. It returns (nil, nil) when there is none. The message is in
// flight until acked.
func (c *Client) Pop(ctx context.Context, topic, bindKey string, wait time.Duration) (*gmqpb.Message, error) {
	r, err := c.Raw.Pop(ctx, &gmqpb.PopRequest{Topic: topic, BindKey: bindKey, WaitMs: uint32(wait / time.Millisecond)})
	if Code(err) == codes.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return r.Message, nil
}

// Ack settles a delivered message: it will not be delivered again.
func (c *Client) Ack(ctx context.Context, m *gmqpb.Message) error {
	_, err := c.Raw.Ack(ctx, &gmqpb.AckRequest{Topic: m.Topic, BindKey: m.BindKey, Id: m.Id})
	return err
}

// Nack gives a delivered message back: ready after delay (0: after the
// topic's retry backoff, or at once).
func (c *Client) Nack(ctx context.Context, m *gmqpb.Message, delay time.Duration) error {
	_, err := c.Raw.Nack(ctx, &gmqpb.NackRequest{Topic: m.Topic, BindKey: m.BindKey, Id: m.Id, DelayMs: uint64(delay / time.Millisecond)})
	return err
}

// Touch extends a delivered message's deadline by the topic's TTR.
func (c *Client) Touch(ctx context.Context, m *gmqpb.Message) error {
	_, err := c.Raw.Touch(ctx, &gmqpb.TouchRequest{Topic: m.Topic, BindKey: m.BindKey, Id: m.Id})
	return err
}

// Consumer is an open Consume stream. Recv returns batches of messages;
// Ack, Nack and Touch travel on the same stream and are safe to call from
// any goroutine. Each ack or nack returns one unit of credit, so the node
// keeps at most maxInFlight messages delivered and unsettled.
type Consumer struct {
	stream gmqpb.BrokerService_ConsumeClient
	cancel context.CancelFunc
	mu     sync.Mutex // serializes Send
	closed bool
}

// Consume opens a Consume stream on a queue with maxInFlight credit.
func (c *Client) Consume(ctx context.Context, topic, bindKey string, maxInFlight uint32) (*Consumer, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.Raw.Consume(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	sub := &gmqpb.ConsumeSubscribe{Topic: topic, BindKey: bindKey, MaxInFlight: maxInFlight}
	if err := stream.Send(&gmqpb.ConsumeRequest{Kind: &gmqpb.ConsumeRequest_Subscribe{Subscribe: sub}}); err != nil {
		cancel()
		return nil, err
	}
	return &Consumer{stream: stream, cancel: cancel}, nil
}

// Recv waits for the next batch of messages. After Close it returns io.EOF
// or a Canceled status.
func (s *Consumer) Recv() ([]*gmqpb.Message, error) {
	r, err := s.stream.Recv()
	if err != nil {
		return nil, err
	}
	return r.Messages, nil
}

func (s *Consumer) send(u *gmqpb.ConsumeUpdate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("gmq: consumer closed")
	}
	return s.stream.Send(&gmqpb.ConsumeRequest{Kind: &gmqpb.ConsumeRequest_Update{Update: u}})
}

// Ack acks messages by id in one update.
func (s *Consumer) Ack(ids ...uint64) error { return s.send(&gmqpb.ConsumeUpdate{AckIds: ids}) }

// Nack gives messages back to the queue (retry count unchanged).
func (s *Consumer) Nack(ids ...uint64) error { return s.send(&gmqpb.ConsumeUpdate{NackIds: ids}) }

// Touch extends messages' deadlines by the topic's TTR.
func (s *Consumer) Touch(ids ...uint64) error { return s.send(&gmqpb.ConsumeUpdate{TouchIds: ids}) }

// AddCredit allows n more messages in flight.
func (s *Consumer) AddCredit(n uint32) error { return s.send(&gmqpb.ConsumeUpdate{Credit: n}) }

// Close sends what is pending (acks included), half-closes the stream and
// waits up to grace for the node to end it, dropping messages delivered
// meanwhile (they go back to the queue); then it cancels the stream.
func (s *Consumer) Close(grace time.Duration) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	_ = s.stream.CloseSend()
	s.mu.Unlock()
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			if _, err := s.stream.Recv(); err != nil {
				return
			}
		}
	}()
	select {
	case <-ended:
	case <-time.After(grace):
	}
	s.cancel()
}

// Subscription is an open Subscribe stream.
type Subscription struct {
	stream gmqpb.BrokerService_SubscribeClient
	cancel context.CancelFunc
}

// Subscribe listens to pub/sub channels until Close.
func (c *Client) Subscribe(ctx context.Context, channels ...string) (*Subscription, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.Raw.Subscribe(ctx, &gmqpb.SubscribeRequest{Channels: channels})
	if err != nil {
		cancel()
		return nil, err
	}
	return &Subscription{stream: stream, cancel: cancel}, nil
}

// Recv waits for the next published message.
func (s *Subscription) Recv() (*gmqpb.SubscribeResponse, error) { return s.stream.Recv() }

// Close ends the subscription.
func (s *Subscription) Close() { s.cancel() }

// Publish publishes to the subscribers connected now; it returns how many got it.
func (c *Client) Publish(ctx context.Context, channel string, body []byte) (uint32, error) {
	r, err := c.Raw.Publish(ctx, &gmqpb.PublishRequest{Channel: channel, Body: body})
	if err != nil {
		return 0, err
	}
	return r.Receivers, nil
}
