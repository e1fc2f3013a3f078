// Throughput measures a PushBatch + Consume loop: it pushes -messages
// messages in batches of -batch, then consumes them on one stream with
// -credit in flight, acking each response's messages in one update. Bounded
// by count and by -max-seconds.
//
//	GMQ_ADDR=127.0.0.1:9503 go run gmq/clients/go/cmd/throughput -messages 20000
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"gmq/clients/go/gmq"
	"gmq/clients/go/gmqpb"
)

func main() {
	messages := flag.Int("messages", 20000, "messages to push and consume")
	batch := flag.Int("batch", 500, "messages per PushBatch")
	credit := flag.Uint("credit", 1000, "messages in flight on the Consume stream")
	bodyBytes := flag.Int("body-bytes", 100, "bytes per body")
	maxSeconds := flag.Float64("max-seconds", 120, "stop after this long")
	flag.Parse()
	c, err := gmq.DialEnv()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	topic := fmt.Sprintf("throughput-go-%d", time.Now().UnixNano())
	if _, err := c.DeclareQueue(ctx, topic, "q"); err != nil {
		log.Fatal(err)
	}
	deadline := time.Now().Add(time.Duration(*maxSeconds * float64(time.Second)))
	body := bytes.Repeat([]byte("x"), *bodyBytes)

	start := time.Now()
	pushed := 0
	for pushed < *messages && time.Now().Before(deadline) {
		n := *batch
		if left := *messages - pushed; left < n {
			n = left
		}
		bodies := make([][]byte, n)
		for i := range bodies {
			bodies[i] = body
		}
		ids, err := c.PushBatch(ctx, topic, "q", bodies...)
		if err != nil {
			log.Fatal(err)
		}
		pushed += len(ids)
	}
	pushedAt := time.Now()

	consumer, err := c.Consume(ctx, topic, "q", uint32(*credit))
	if err != nil {
		log.Fatal(err)
	}
	consumed := 0
	for consumed < pushed && time.Now().Before(deadline) {
		msgs, err := consumer.Recv()
		if err != nil {
			log.Fatal(err)
		}
		ids := make([]uint64, len(msgs))
		for i, m := range msgs {
			ids[i] = m.Id
		}
		if err := consumer.Ack(ids...); err != nil {
			log.Fatal(err)
		}
		consumed += len(msgs)
	}
	consumer.Close(5 * time.Second)
	end := time.Now()
	if _, err := c.Raw.DeleteQueue(ctx, &gmqpb.DeleteQueueRequest{Topic: topic, BindKey: "q"}); err != nil {
		log.Fatal(err)
	}
	pushS, consumeS := pushedAt.Sub(start).Seconds(), end.Sub(pushedAt).Seconds()
	fmt.Printf("go: pushed %d in %.2f s (%.0f msgs/s), consumed+acked %d in %.2f s (%.0f msgs/s), loop %.0f msgs/s\n",
		pushed, pushS, float64(pushed)/pushS, consumed, consumeS, float64(consumed)/consumeS, float64(consumed)/end.Sub(start).Seconds())
}
