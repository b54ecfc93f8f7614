package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-im/parley/edge"
	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/persist"
	"github.com/parley-im/parley/streams"
)

// runEdge runs one edge against external NATS and Postgres.
func runEdge(ctx context.Context, c edgeConfig, log *slog.Logger) error {
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	store, err := persist.Open(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	nc, err := app.Connect(c.NATSURL, "parley-edge", log)
	if err != nil {
		return err
	}
	defer stopWith(log, "nats connection", func() error { return app.Drain(nc) })
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	var layout streams.Layout
	if err := app.CheckStreams(ctx, js, layout); err != nil {
		return err
	}
	srv, err := edge.New(edge.Config{
		Store:          store,
		NC:             nc,
		Layout:         layout,
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
	store, err := persist.Open(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	nc, err := app.Connect(c.NATSURL, "parley-persist", log)
	if err != nil {
		return err
	}
	defer stopWith(log, "nats connection", func() error { return app.Drain(nc) })
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	var layout streams.Layout
	if err := app.CheckStreams(ctx, js, layout); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	workers := app.NewWorkers(c.Workers, persist.WorkerConfig{
		Store: store, JS: js, Layout: layout, Batch: c.Batch, Logger: log, Metrics: reg,
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
