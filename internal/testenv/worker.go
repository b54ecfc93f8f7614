package testenv

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/persist"
)

// Worker is one persist worker on the persist durable, with a NATS
// connection of its own, as a separate process would have.
type Worker struct {
	NC *nats.Conn // the worker's own connection

	tb     testing.TB
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	err    error         // Run's result; read after done
	once   sync.Once     // the first Stop or Kill wins
}

// StartWorker starts one more persist worker and returns once it runs.
func (e *Env) StartWorker() *Worker {
	e.tb.Helper()
	nc := e.connect(fmt.Sprintf("parley-test-persist-%d", len(e.Workers)))
	js, err := jetstream.New(nc)
	if err != nil {
		e.tb.Fatalf("testenv: jetstream: %v", err)
	}
	ws := app.NewWorkers(1, persist.WorkerConfig{Store: e.Store, JS: js, Layout: e.Layout, Logger: e.log})
	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{NC: nc, tb: e.tb, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.err = ws.Run(ctx)
	}()
	e.tb.Cleanup(w.Stop)
	e.Workers = append(e.Workers, w)
	for deadline := time.Now().Add(10 * time.Second); ws.Ready(ctx) != nil; {
		select {
		case <-w.done:
			e.tb.Fatalf("testenv: persist worker stopped at start: %v", w.err)
		default:
		}
		if time.Now().After(deadline) {
			e.tb.Fatalf("testenv: persist worker not running within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return w
}

// Stop stops the worker gracefully (it finishes its batch) and drains its
// NATS connection. A failure fails the test.
func (w *Worker) Stop() {
	w.once.Do(func() {
		w.cancel()
		<-w.done
		if w.err != nil {
			w.tb.Errorf("testenv: persist worker: %v", w.err)
		}
		if err := app.Drain(w.NC); err != nil {
			w.tb.Errorf("testenv: persist worker: %v", err)
		}
	})
	<-w.done
}

// Kill stops the worker as a crash would: its NATS connection is closed at
// once, so whatever it fetched and did not ack is redelivered to another
// worker after the consumer's AckWait.
func (w *Worker) Kill() {
	w.once.Do(func() {
		w.NC.Close()
		w.cancel()
	})
	<-w.done
}
