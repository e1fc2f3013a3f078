// Worker consumes the "jobs" topic's "work" queue on a Consume stream: it
// acks each job done, nacks a job whose handler failed (it comes back), and
// touches a long job while it runs so its TTR does not expire.
//
//	GMQ_ADDR=127.0.0.1:9503 go run gmq/clients/go/cmd/worker -jobs 5
//
// -jobs N exits after N jobs are done; without it the worker runs until killed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"strings"
	"time"

	"gmq/clients/go/gmq"
	"gmq/clients/go/gmqpb"
)

var failedOnce = map[uint64]bool{}

func handle(m *gmqpb.Message) error {
	body := string(m.Body)
	if strings.HasPrefix(body, "flaky:") && !failedOnce[m.Id] {
		failedOnce[m.Id] = true
		return errors.New("partner API timed out")
	}
	if strings.HasPrefix(body, "slow:") {
		time.Sleep(3 * time.Second) // longer than the topic's 2 s TTR: the heartbeat touches it
	}
	return nil
}

// withHeartbeat runs the job while touching it every 500 ms.
func withHeartbeat(consumer *gmq.Consumer, m *gmqpb.Message) error {
	stop := make(chan struct{})
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = consumer.Touch(m.Id)
			}
		}
	}()
	defer func() { close(stop); <-beating }()
	return handle(m)
}

func main() {
	jobs := flag.Int("jobs", 0, "exit after this many jobs are done (0: never)")
	flag.Parse()
	c, err := gmq.DialEnv()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Credit 1: one job at a time, so no prefetched job waits out its TTR
	// behind a slow one. Raise it for short jobs handled concurrently.
	consumer, err := c.Consume(context.Background(), "jobs", "work", 1)
	if err != nil {
		log.Fatal(err)
	}
	done := 0
	for done != *jobs || *jobs == 0 {
		batch, err := consumer.Recv()
		if err != nil {
			log.Fatal(err)
		}
		for _, m := range batch {
			if err := withHeartbeat(consumer, m); err != nil { // the job failed: give it back for another try
				fmt.Printf("nack %d (%v), retry %d\n", m.Id, err, m.Retry)
				_ = consumer.Nack(m.Id)
				continue
			}
			if err := consumer.Ack(m.Id); err != nil {
				log.Fatal(err)
			}
			done++
			fmt.Printf("done %d: %s\n", m.Id, m.Body)
		}
	}
	consumer.Close(5 * time.Second)
	fmt.Println(done, "jobs done")
}
