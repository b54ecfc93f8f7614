// Package app wires Parley's adapters into running components: the NATS
// connection each component holds, the database and stream preparation, the
// persist worker pool and the edge's HTTP listener. Both cmd/parley and the
// test environment (internal/testenv) start components through it, so that
// tests exercise the wiring that operators run.
//
// Configuration is plain values handed in by the caller; nothing here reads
// flags or the environment.
//
// # Lifecycle
//
// Every component is a Run(ctx) error that returns once ctx is done and the
// component has stopped. RunInOrder runs several of them and, when one fails
// or the context ends, stops them one at a time in the order given, so that
// an edge stops accepting before the workers behind it stop.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"golang.org/x/sync/errgroup"
)

// Component is a named part of a process that runs until its context ends.
type Component struct {
	Name string
	// Run serves until ctx is done, then stops and returns. Returning nil
	// before ctx is done counts as a failure: components do not finish by
	// themselves.
	Run func(ctx context.Context) error
	// Drain, when set, is called before Run's context is cancelled, with a
	// context bounded by DrainTimeout, to let the component finish the work
	// in hand. Its failure is logged, and the stop goes on.
	Drain func(ctx context.Context) error
}

// RunInOrder runs every component concurrently until ctx is done or one of
// them fails, then stops them one at a time in the order given, waiting for
// each to return before stopping the next. It returns the first failure, or
// nil after a stop asked for through ctx.
func RunInOrder(ctx context.Context, log *slog.Logger, comps ...Component) error {
	g, gctx := errgroup.WithContext(ctx)
	stops := make([]context.CancelFunc, len(comps))
	dones := make([]chan struct{}, len(comps))
	for i, c := range comps {
		// Each component gets a context of its own, cancelled only by the
		// stopper below, so that the stop order is ours and not the
		// errgroup's (which would cancel them all at once).
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stops[i], dones[i] = cancel, make(chan struct{})
		g.Go(func() error {
			defer close(dones[i])
			err := c.Run(cctx)
			if err == nil && cctx.Err() == nil {
				err = errors.New("stopped by itself")
			}
			if err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		for i, c := range comps {
			log.Info("stopping", "component", c.Name)
			if c.Drain != nil {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DrainTimeout)
				if err := c.Drain(dctx); err != nil {
					log.Warn("drain failed", "component", c.Name, "err", err)
				}
				cancel()
			}
			stops[i]()
			<-dones[i]
		}
		return nil
	})
	return g.Wait()
}
