// Producer pushes jobs to the "jobs" topic's "work" queue: one with Push,
// the rest in a single PushBatch. Run cmd/worker to process them.
//
//	GMQ_ADDR=127.0.0.1:9503 GMQ_TOKEN=... go run gmq/clients/go/cmd/producer
package main

import (
	"context"
	"fmt"
	"log"

	"gmq/clients/go/gmq"
	"gmq/clients/go/gmqpb"

	"google.golang.org/grpc/codes"
)

func main() {
	c, err := gmq.DialEnv() // GMQ_TOKEN only for nodes started with --auth-file
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	// TTR 2 s: a job not acked (or touched) within 2 s is delivered again, up to 3 times.
	retries := uint32(3)
	if _, err := c.Raw.Config(ctx, &gmqpb.ConfigRequest{Topic: "jobs", MsgTtr: 2, MsgRetry: &retries}); err != nil {
		log.Fatal(err)
	}
	if _, err := c.DeclareQueue(ctx, "jobs", "work"); err != nil {
		log.Fatal(err)
	}

	id, err := c.Push(ctx, "jobs", "work", []byte("resize image 1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pushed", id)
	ids, err := c.PushBatch(ctx, "jobs", "work",
		[]byte("resize image 2"), []byte("resize image 3"), []byte("slow: transcode video"), []byte("flaky: call partner API"))
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range ids {
		fmt.Println("pushed", id)
	}

	_, err = c.Push(ctx, "jobs", "no-such-queue", []byte("lost"))
	if gmq.Code(err) != codes.FailedPrecondition { // no queue matches that route key
		log.Fatalf("expected FailedPrecondition, got %v", err)
	}
	fmt.Println("refused as expected:", gmq.Code(err))
}
