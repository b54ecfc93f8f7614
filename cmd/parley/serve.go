package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-im/parley/edge"
	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/persist"
	"github.com/parley-im/parley/streams"
)

// backends are the external services an edge or a persist process uses.
type backends struct {
	store  *persist.Store
	nc     *nats.Conn
	js     jetstream.JetStream
	layout streams.Layout
}

// openBackends opens the database, connects to NATS as name, and checks
// that the streams exist (`parley migrate` creates them).
func openBackends(ctx context.Context, databaseURL, natsURL, name string, log *slog.Logger) (_ *backends, err error) {
	b := &backends{}
	if b.store, err = persist.Open(ctx, databaseURL); err != nil {
		return nil, err
	}
	if b.nc, err = app.Connect(natsURL, name, log); err != nil {
		b.store.Close()
		return nil, err
	}
	if b.js, err = jetstream.New(b.nc); err == nil {
		err = app.CheckStreams(ctx, b.js, b.layout)
	}
	if err != nil {
		b.close(log)
		return nil, fmt.Errorf("streams: %w", err)
	}
	return b, nil
}

// close drains NATS, then closes the database.
func (b *backends) close(log *slog.Logger) {
	stopWith(log, "nats connection", func() error { return app.Drain(b.nc) })
	b.store.Close()
}

// runEdge runs one edge against external NATS and Postgres.
func runEdge(ctx context.Context, c edgeConfig, log *slog.Logger) error {
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	b, err := openBackends(ctx, c.DatabaseURL, c.NATSURL, "parley-edge", log)
	if err != nil {
		return err
	}
	defer b.close(log)
	store := b.store
	srv, err := edge.New(edge.Config{
		Store:          store,
		NC:             b.nc,
		Layout:         b.layout,
		Logger:         log,
		TokenKey:       c.TokenKey,
		AllowedOrigins: c.AllowedOrigins,
		Ready:          store.Ping,
	})
	if err != nil {
		return err
	}
	log.Info("parley edge", "nats", app.Redact(c.NATSURL))
	return app.RunInOrder(ctx, log, app.Edge(srv, ln, log))
}

// runPersist runs persist workers against external NATS and Postgres.
func runPersist(ctx context.Context, c persistConfig, log *slog.Logger) error {
	b, err := openBackends(ctx, c.DatabaseURL, c.NATSURL, "parley-persist", log)
	if err != nil {
		return err
	}
	defer b.close(log)
	store := b.store
	reg := prometheus.NewRegistry()
	workers := app.NewWorkers(c.Workers, persist.WorkerConfig{
		Store: store, JS: b.js, Layout: b.layout, Batch: c.Batch, Logger: log, Metrics: reg,
	})
	comps := []app.Component{workers.Component(false)}
	if c.MetricsAddr != "" {
		ln, err := net.Listen("tcp", c.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		defer ln.Close()
		// Listed first so that it stops first: a draining process is not healthy.
		comps = append([]app.Component{metricsServer(ln, reg, app.AllReady(store.Ping, workers.Ready), log)}, comps...)
	}
	log.Info("parley persist", "workers", c.Workers, "nats", app.Redact(c.NATSURL))
	return app.RunInOrder(ctx, log, comps...)
}

// metricsServer serves /metrics and /healthz (200 once ready) on ln.
func metricsServer(ln net.Listener, reg *prometheus.Registry, ready func(context.Context) error, log *slog.Logger) app.Component {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return app.Component{Name: "metrics", Run: func(ctx context.Context) error {
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		log.Info("metrics listening", "addr", ln.Addr().String())
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(shutCtx)
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return err
	}}
}

// runMigrate applies the database migrations and, with a NATS URL, creates
// or updates the streams and the persist consumer.
func runMigrate(ctx context.Context, c migrateConfig, log *slog.Logger) error {
	store, err := persist.Open(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	var js jetstream.JetStream
	if c.NATSURL != "" {
		nc, err := app.Connect(c.NATSURL, "parley-migrate", log)
		if err != nil {
			return err
		}
		defer stopWith(log, "nats connection", func() error { return app.Drain(nc) })
		if js, err = jetstream.New(nc); err != nil {
			return fmt.Errorf("jetstream: %w", err)
		}
	}
	cfg := streams.Config{Replicas: c.StreamReplicas, MaxAge: c.StreamMaxAge}
	if err := app.Prepare(ctx, store, js, streams.Layout{}, cfg); err != nil {
		return err
	}
	log.Info("migrated", "database", true, "streams", js != nil, "stream_replicas", c.StreamReplicas, "stream_max_age", c.StreamMaxAge)
	return nil
}
