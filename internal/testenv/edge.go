package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/parley-im/parley/edge"
	"github.com/parley-im/parley/internal/app"
)

// PasswordParams is the light argon2id cost every test edge uses.
var PasswordParams = edge.PasswordParams{Time: 1, MemoryKiB: 1024, Threads: 1}

// Edge is one edge serving real HTTP on 127.0.0.1, with a NATS connection of
// its own, as a separate process would have.
type Edge struct {
	URL    string       // http://127.0.0.1:<port>
	Addr   string       // 127.0.0.1:<port>
	Server *edge.Server // for white-box assertions
	NC     *nats.Conn   // the edge's own connection

	tb     testing.TB
	ln     *trackingListener
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	err    error         // Run's result; read after done
	once   sync.Once     // the first Stop or Kill wins
}

// AddEdge starts one more edge and returns once it answers /healthz.
func (e *Env) AddEdge() *Edge {
	e.tb.Helper()
	nc := e.connect(fmt.Sprintf("parley-test-edge-%d", len(e.Edges)))
	cfg := edge.Config{
		Store:          e.Store,
		NC:             nc,
		Layout:         e.Layout,
		Logger:         e.log,
		TokenKey:       e.TokenKey,
		PasswordParams: PasswordParams,
		Ready:          e.Store.Ping,
	}
	if e.opts.edgeConfig != nil {
		e.opts.edgeConfig(&cfg)
	}
	srv, err := edge.New(cfg)
	if err != nil {
		e.tb.Fatalf("testenv: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.tb.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ed := &Edge{
		Addr:   ln.Addr().String(),
		Server: srv,
		NC:     nc,
		tb:     e.tb,
		ln:     &trackingListener{Listener: ln, conns: map[net.Conn]struct{}{}},
		cancel: cancel,
		done:   make(chan struct{}),
	}
	ed.URL = "http://" + ed.Addr
	run := app.Edge(srv, ed.ln, e.log).Run
	go func() {
		defer close(ed.done)
		ed.err = run(ctx)
	}()
	e.tb.Cleanup(ed.Stop)
	e.Edges = append(e.Edges, ed)
	waitHealthy(e.tb, ed.URL)
	return ed
}

// Stop shuts the edge down gracefully, as on SIGTERM: it stops accepting,
// sends going-away to every socket, waits for requests in flight and drains
// its NATS connection. A failure fails the test.
func (ed *Edge) Stop() {
	ed.once.Do(func() {
		ed.cancel()
		<-ed.done
		if ed.err != nil && !errors.Is(ed.err, http.ErrServerClosed) {
			ed.tb.Errorf("testenv: edge %s: %v", ed.Addr, ed.err)
		}
		if err := app.Drain(ed.NC); err != nil {
			ed.tb.Errorf("testenv: edge %s: %v", ed.Addr, err)
		}
	})
	<-ed.done
}

// Kill stops the edge as a crash would: its listener and every connection
// it accepted (WebSockets included) are closed at once, without a
// going-away frame, and its NATS connection is closed without draining.
func (ed *Edge) Kill() {
	ed.once.Do(func() {
		// Connections first: once the listener is closed, Run begins its
		// graceful shutdown and would send going-away on them.
		ed.ln.closeAll()
		ed.ln.Close()
		ed.NC.Close()
		ed.cancel() // only to let the goroutine end; nothing reaches a client any more
	})
	<-ed.done
}

// trackingListener remembers the connections it accepted until they close,
// so that Kill can cut them all.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{} // open accepted connections; guarded by mu
	killed bool                  // guarded by mu
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.killed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	l.killed = true
	conns := l.conns
	l.conns = map[net.Conn]struct{}{}
	l.mu.Unlock()
	for c := range conns {
		c.(*trackedConn).Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
