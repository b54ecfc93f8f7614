package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-im/parley/edge"
	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/persist"
	"github.com/parley-im/parley/persist/localpg"
	"github.com/parley-im/parley/streams"
	"github.com/parley-im/parley/streams/localnats"
)

// benchPasswordParams is the light argon2id cost of the harness's edges, so
// that registering thousands of users takes seconds. A production edge uses
// the default cost (edge.PasswordParams zero value).
var benchPasswordParams = edge.PasswordParams{Time: 1, MemoryKiB: 1024, Threads: 1}

// env is the Parley a run drives.
type env struct {
	cfg       config
	dir       string   // "" with --target
	endpoints []string // edge base URLs
	natsURL   string   // "" when unknown (--target without --target-nats)
	dbURL     string   // "" with --target
	server    *child
	edges     []*child
	nc        *nats.Conn // the harness's own; nil when natsURL is ""
	js        jetstream.JetStream
}

type serverJob struct {
	Dir     string `json:"dir"`
	Workers int    `json:"workers"`
}

type serverReady struct {
	NATSURL string `json:"nats_url"`
	DBURL   string `json:"db_url"`
}

type edgeJob struct {
	NATSURL  string `json:"nats_url"`
	DBURL    string `json:"db_url"`
	TokenKey []byte `json:"token_key"`
}

type edgeReady struct {
	Addr string `json:"addr"`
}

// startEnv starts a Parley (or looks at the target) and connects to its NATS.
func startEnv(ctx context.Context, c config) (_ *env, err error) {
	e := &env{cfg: c}
	defer func() {
		if err != nil {
			e.stop()
		}
	}()
	if len(c.Target) > 0 {
		e.endpoints, e.natsURL = c.Target, c.TargetNATS
	} else if err := e.startLocal(ctx); err != nil {
		return nil, err
	}
	if e.natsURL != "" {
		if e.nc, err = nats.Connect(e.natsURL, nats.Name("parley-bench")); err != nil {
			return nil, fmt.Errorf("connect to nats: %w", err)
		}
		if e.js, err = jetstream.New(e.nc); err != nil {
			return nil, err
		}
	}
	for _, u := range e.endpoints {
		if err := waitHealthy(ctx, u); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (e *env) startLocal(ctx context.Context) error {
	// Right under the temporary directory, o+x, so that an unprivileged
	// Postgres user can reach it when the harness runs as root.
	dir, err := os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return err
	}
	e.dir = dir
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	start := time.Now()
	if e.server, err = startChild("server", serverJob{Dir: dir, Workers: e.cfg.Workers}); err != nil {
		return err
	}
	var ready serverReady
	if err := e.server.recv(ctx, &ready); err != nil {
		return err
	}
	e.natsURL, e.dbURL = ready.NATSURL, ready.DBURL
	key := make([]byte, 32)
	rand.Read(key)
	for range e.cfg.Edges {
		ch, err := startChild("edge", edgeJob{NATSURL: e.natsURL, DBURL: e.dbURL, TokenKey: key})
		if err != nil {
			return err
		}
		e.edges = append(e.edges, ch)
	}
	for _, ch := range e.edges {
		var r edgeReady
		if err := ch.recv(ctx, &r); err != nil {
			return err
		}
		e.endpoints = append(e.endpoints, "http://"+r.Addr)
	}
	progressf(e.cfg, "parley up in %s: nats %s, %d edges %v, %d persist workers", time.Since(start).Round(time.Millisecond), e.natsURL, len(e.edges), e.endpoints, e.cfg.Workers)
	return nil
}

// stop stops the edges, then the server, and removes the directory.
func (e *env) stop() {
	if e.nc != nil {
		e.nc.Close()
	}
	var wg sync.WaitGroup
	for _, ch := range e.edges {
		wg.Go(func() { ch.stop(20 * time.Second) })
	}
	wg.Wait()
	if e.server != nil {
		e.server.stop(60 * time.Second)
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}

// edgePIDs returns the process ids of the edges the harness started.
func (e *env) edgePIDs() []int {
	var pids []int
	for _, ch := range e.edges {
		pids = append(pids, ch.pid())
	}
	return pids
}

// profileEdges starts (or, with stop, stops) a CPU profile in every edge
// when --pprof is set.
func (e *env) profileEdges(stop bool) {
	if e.cfg.PProf == "" {
		return
	}
	for i, ch := range e.edges {
		cmd := command{Cmd: "pprof-start", File: filepath.Join(e.cfg.PProf, fmt.Sprintf("%s-edge%d.cpu.pprof", e.cfg.Scenario, i))}
		if stop {
			cmd = command{Cmd: "pprof-stop"}
		}
		ch.send(cmd)
	}
}

func waitHealthy(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy: %v", base, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// childLogger logs warnings and errors of a child to stderr.
func childLogger(role string) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("bench", role, "pid", os.Getpid())
}

// runServer is the "server" role: NATS, Postgres and the persist workers,
// as `parley dev` runs them, without the edge.
func runServer(ctx context.Context, cio *childIO) error {
	var job serverJob
	if err := cio.read(&job); err != nil {
		return err
	}
	log := childLogger("server")
	pg, err := localpg.Start(ctx, localpg.Options{Dir: filepath.Join(job.Dir, "pg")})
	if err != nil {
		return err
	}
	defer pg.Stop()
	store, err := persist.Open(ctx, pg.URL())
	if err != nil {
		return err
	}
	defer store.Close()
	ns, err := localnats.Start(localnats.Options{Dir: filepath.Join(job.Dir, "nats"), Port: -1})
	if err != nil {
		return err
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, err := app.Connect(ns.ClientURL(), "parley-bench-persist", log)
	if err != nil {
		return err
	}
	defer app.Drain(nc)
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := app.Prepare(ctx, store, js, streams.Layout{}, streams.Config{}); err != nil {
		return err
	}
	workers := app.NewWorkers(job.Workers, persist.WorkerConfig{Store: store, JS: js, Logger: log})
	wctx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- workers.Run(wctx) }()
	cio.write(serverReady{NATSURL: ns.ClientURL(), DBURL: pg.URL()})
	go func() {
		var c command
		for cio.read(&c) == nil { // until the harness closes stdin
		}
		stop()
	}()
	<-wctx.Done()
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// runEdgeChild is the "edge" role: one edge, as `parley edge` runs it, with
// the light password cost and a long access-token lifetime.
func runEdgeChild(ctx context.Context, cio *childIO) error {
	var job edgeJob
	if err := cio.read(&job); err != nil {
		return err
	}
	log := childLogger("edge")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	store, err := persist.Open(ctx, job.DBURL)
	if err != nil {
		return err
	}
	defer store.Close()
	nc, err := app.Connect(job.NATSURL, "parley-bench-edge", log)
	if err != nil {
		return err
	}
	defer app.Drain(nc)
	srv, err := edge.New(edge.Config{
		Store: store, NC: nc, Logger: log, TokenKey: job.TokenKey,
		AccessTTL: 24 * time.Hour, PasswordParams: benchPasswordParams, Ready: store.Ping,
	})
	if err != nil {
		return err
	}
	rctx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- app.Edge(srv, ln, log).Run(rctx) }()
	cio.write(edgeReady{Addr: ln.Addr().String()})
	go func() {
		defer stop()
		var prof *os.File
		for {
			var c command
			if err := cio.read(&c); err != nil {
				break
			}
			switch c.Cmd {
			case "pprof-start":
				if f, err := os.Create(c.File); err == nil && pprof.StartCPUProfile(f) == nil {
					prof = f
				}
			case "pprof-stop":
				if prof != nil {
					pprof.StopCPUProfile()
					prof.Close()
					prof = nil
				}
			}
		}
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
		}
	}()
	return <-errc
}
