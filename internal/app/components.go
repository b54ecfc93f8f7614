package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/parley-im/parley/edge"
	"github.com/parley-im/parley/persist"
	"github.com/parley-im/parley/streams"
)

// Prepare brings the database schema and the streams up to date. Both steps
// are idempotent; js may be nil to migrate the database only.
func Prepare(ctx context.Context, store *persist.Store, js jetstream.JetStream, layout streams.Layout, cfg streams.Config) error {
	if err := store.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	if js == nil {
		return nil
	}
	if err := layout.Setup(ctx, js, cfg); err != nil {
		return fmt.Errorf("set up streams: %w", err)
	}
	return nil
}

// Edge returns the component that serves srv on ln until its context ends,
// then shuts the edge down (going-away to every socket).
func Edge(srv *edge.Server, ln net.Listener, log *slog.Logger) Component {
	return Component{Name: "edge", Run: func(ctx context.Context) error {
		log.Info("edge listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String())
		return srv.Run(ctx, ln)
	}}
}

// Workers runs several persist workers that share the persist durable, and
// tells whether they are all running.
type Workers struct {
	n       int
	cfg     persist.WorkerConfig
	running atomic.Int32 // workers whose Run has started and not returned
}

// NewWorkers returns n workers built from cfg. n < 1 means 1.
func NewWorkers(n int, cfg persist.WorkerConfig) *Workers {
	if n < 1 {
		n = 1
	}
	return &Workers{n: n, cfg: cfg}
}

// Run runs the workers until ctx is done or one of them fails.
func (w *Workers) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for i := range w.n {
		worker := persist.NewWorker(w.cfg)
		g.Go(func() error {
			w.running.Add(1)
			defer w.running.Add(-1)
			if err := worker.Run(gctx); err != nil {
				return fmt.Errorf("persist worker %d: %w", i, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Ready answers nil while every worker is running.
func (w *Workers) Ready(context.Context) error {
	if n := int(w.running.Load()); n < w.n {
		return fmt.Errorf("%d of %d persist workers running", n, w.n)
	}
	return nil
}

// Component returns w as a component named "persist". When drain is set,
// stopping it first waits for the persist durable to be fully acknowledged,
// so that a stop after every publisher has stopped (as in `parley dev`)
// leaves no event in flight to be redelivered only after the AckWait.
func (w *Workers) Component(drain bool) Component {
	c := Component{Name: "persist", Run: w.Run}
	if drain {
		c.Drain = w.WaitIdle
	}
	return c
}

// WaitIdle waits until the persist durable has nothing pending or
// unacknowledged, or ctx ends.
func (w *Workers) WaitIdle(ctx context.Context) error {
	for {
		cons, err := w.cfg.JS.Consumer(ctx, w.cfg.Layout.ConvStream(), streams.DurablePersist)
		if err == nil {
			info := cons.CachedInfo()
			if info.NumPending == 0 && info.NumAckPending == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("persist durable not idle: %w", context.Cause(ctx))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// AllReady combines readiness checks; it reports every one that fails.
func AllReady(checks ...func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		var errs []error
		for _, c := range checks {
			if err := c(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}
