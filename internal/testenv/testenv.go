// Package testenv starts a whole Parley installation inside a test: an
// embedded NATS server, a fresh migrated Postgres database, persist workers
// and edges serving real HTTP on 127.0.0.1, wired through internal/app
// exactly as cmd/parley wires them. Tests kill and restart edges and workers
// to check what clients see.
//
// A test binary that uses it must start a private Postgres once:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Production code never imports this package.
//
// An Env is driven by the test's goroutine: Start, AddEdge and StartWorker
// are not safe for concurrent use; Kill and Stop of one edge or worker are
// safe to call from anywhere, and more than once.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-im/parley/edge"
	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/persist"
	"github.com/parley-im/parley/persist/pgtest"
	"github.com/parley-im/parley/streams"
	"github.com/parley-im/parley/streams/localnats"
)

// Main runs the tests of a package that uses Start, with a private Postgres
// for the whole test binary.
func Main(m *testing.M) { pgtest.Main(m) }

// Env is one running installation. Fields are set by Start and not changed
// afterwards, except Edges and Workers, which AddEdge and StartWorker extend.
type Env struct {
	Layout      streams.Layout // a prefix unique to this Env
	NATS        *server.Server // the embedded server
	NATSURL     string
	NC          *nats.Conn          // the test's own connection
	JS          jetstream.JetStream // on NC
	DatabaseURL string              // a fresh migrated database
	DB          *pgxpool.Pool       // for assertions
	Store       *persist.Store      // shared by every edge and worker, as one database is
	TokenKey    []byte              // shared by every edge

	Edges   []*Edge
	Workers []*Worker

	tb   testing.TB
	opts options
	log  *slog.Logger
}

// Option changes what Start starts.
type Option func(*options)

type options struct {
	edges, workers int
	streams        streams.Config
	edgeConfig     func(*edge.Config)
}

// WithEdges starts n edges (default 1; 0 starts none).
func WithEdges(n int) Option { return func(o *options) { o.edges = n } }

// WithWorkers starts n persist workers (default 1; 0 starts none).
func WithWorkers(n int) Option { return func(o *options) { o.workers = n } }

// WithStreams sizes the streams (default: the zero streams.Config).
func WithStreams(c streams.Config) Option { return func(o *options) { o.streams = c } }

// WithEdgeConfig lets a test adjust each edge's configuration (short TTLs,
// a small send queue) after testenv has filled it in and before edge.New.
func WithEdgeConfig(f func(*edge.Config)) Option { return func(o *options) { o.edgeConfig = f } }

// Start starts an installation and registers its teardown with tb.Cleanup.
// It returns once every edge answers /healthz with 200.
func Start(tb testing.TB, opts ...Option) *Env {
	tb.Helper()
	o := options{edges: 1, workers: 1}
	for _, f := range opts {
		f(&o)
	}
	e := &Env{tb: tb, opts: o, Layout: streams.Layout{Prefix: "T" + randomHex(tb, 4)}}
	e.log = testLogger(tb) // first, so that it stays usable through every cleanup below
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	e.DatabaseURL = pgtest.URL(tb) // its cleanup drops the database after ours close the pools
	var err error
	if e.Store, err = persist.Open(ctx, e.DatabaseURL); err != nil {
		tb.Fatalf("testenv: open store: %v", err)
	}
	tb.Cleanup(e.Store.Close)
	if e.DB, err = pgxpool.New(ctx, e.DatabaseURL); err != nil {
		tb.Fatalf("testenv: open pool: %v", err)
	}
	tb.Cleanup(e.DB.Close)

	if e.NATS, err = localnats.Start(localnats.Options{Dir: tb.TempDir(), Port: -1}); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() {
		e.NATS.Shutdown()
		e.NATS.WaitForShutdown()
	})
	e.NATSURL = e.NATS.ClientURL()
	e.NC = e.connect("parley-test")
	if e.JS, err = jetstream.New(e.NC); err != nil {
		tb.Fatalf("testenv: jetstream: %v", err)
	}
	if err := app.Prepare(ctx, e.Store, e.JS, e.Layout, o.streams); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	e.TokenKey = make([]byte, 32)
	rand.Read(e.TokenKey)

	for range o.workers {
		e.StartWorker()
	}
	for range o.edges {
		e.AddEdge()
	}
	return e
}

// connect opens a connection that is closed (without draining) at cleanup,
// unless closed earlier.
func (e *Env) connect(name string) *nats.Conn {
	e.tb.Helper()
	nc, err := app.Connect(e.NATSURL, name, e.log)
	if err != nil {
		e.tb.Fatalf("testenv: %v", err)
	}
	e.tb.Cleanup(nc.Close)
	return nc
}

// waitHealthy polls url's /healthz until it answers 200.
func waitHealthy(tb testing.TB, url string) {
	tb.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("testenv: %s/healthz not ready within 30s: %s", url, last)
}

func randomHex(tb testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return hex.EncodeToString(b)
}
