package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-im/parley/edge"
	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/persist"
	"github.com/parley-im/parley/persist/localpg"
	"github.com/parley-im/parley/streams"
	"github.com/parley-im/parley/streams/localnats"
)

// runDev runs everything in one process with all state under c.Data, and
// stops it in order when ctx ends: the edge (no new connections, going-away
// to every socket), the persist workers, the NATS connections (drained), the
// NATS server, the database pool, Postgres.
func runDev(ctx context.Context, c devConfig, log *slog.Logger) (err error) {
	// o+x: when run as root, Postgres runs as an unprivileged user that
	// must reach <data>/pg. The secrets inside are 0600 files.
	if err := os.MkdirAll(c.Data, 0o711); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	key := c.TokenKey
	if key == nil {
		if key, err = loadOrCreateKey(filepath.Join(c.Data, "token.key")); err != nil {
			return err
		}
	}
	// Bind first: a taken port should fail before Postgres starts.
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close() // after Run, a no-op; on an early return, frees the port

	log.Info("starting postgres", "dir", filepath.Join(c.Data, "pg"))
	pg, err := localpg.Start(ctx, localpg.Options{Dir: filepath.Join(c.Data, "pg")})
	if err != nil {
		return err // names the package to install when Postgres is missing
	}
	defer stopWith(log, "postgres", pg.Stop)

	store, err := persist.Open(ctx, pg.URL())
	if err != nil {
		return err
	}
	defer stopWith(log, "database pool", func() error { store.Close(); return nil })

	ns, err := localnats.Start(localnats.Options{Dir: filepath.Join(c.Data, "nats"), Port: -1, SyncAlways: c.SyncAlways})
	if err != nil {
		return err
	}
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
		log.Info("stopped", "component", "nats server")
	}()
	log.Info("nats started", "url", ns.ClientURL(), "sync_always", c.SyncAlways)

	// One connection per component, as if they were separate processes.
	edgeNC, err := app.Connect(ns.ClientURL(), "parley-dev-edge", log)
	if err != nil {
		return err
	}
	defer stopWith(log, "edge nats connection", func() error { return app.Drain(edgeNC) })
	persistNC, err := app.Connect(ns.ClientURL(), "parley-dev-persist", log)
	if err != nil {
		return err
	}
	defer stopWith(log, "persist nats connection", func() error { return app.Drain(persistNC) })
	persistJS, err := jetstream.New(persistNC)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}

	var layout streams.Layout
	if err := app.Prepare(ctx, store, persistJS, layout, streams.Config{MaxAge: c.StreamMaxAge}); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	workers := app.NewWorkers(c.Workers, persist.WorkerConfig{
		Store: store, JS: persistJS, Layout: layout, Logger: log, Metrics: reg,
	})
	srv, err := edge.New(edge.Config{
		Store:          store,
		NC:             edgeNC,
		Layout:         layout,
		Logger:         log,
		Metrics:        reg,
		TokenKey:       key,
		AllowedOrigins: c.AllowedOrigins,
		Ready:          app.AllReady(store.Ping, workers.Ready),
	})
	if err != nil {
		return err
	}
	log.Info("parley dev", "url", "http://"+ln.Addr().String(), "data", c.Data)
	return app.RunInOrder(ctx, log, app.Edge(srv, ln, log), workers.Component(true))
}

// stopWith runs a deferred stop and logs its outcome.
func stopWith(log *slog.Logger, what string, stop func() error) {
	if err := stop(); err != nil {
		log.Error("stop failed", "component", what, "err", err)
		return
	}
	log.Info("stopped", "component", what)
}
