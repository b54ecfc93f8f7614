package persist

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier is what the queries of this package need: a connection or a
// transaction both satisfy it, so a function taking a querier runs alone or
// as part of a larger transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

var (
	_ querier = (*pgx.Conn)(nil)
	_ querier = (pgx.Tx)(nil)
)

// errClosed is returned by a pool that has been closed.
var errClosed = errors.New("persist: store closed")

// pool is a bounded set of connections. A connection is handed to one
// caller at a time and goes back to the idle list only when it is healthy
// and outside any transaction; a broken one is closed and replaced on
// demand.
type pool struct {
	cfg *pgx.ConnConfig
	sem chan struct{} // one token per connection in use or being opened

	mu     sync.Mutex // guards idle and closed
	idle   []idleConn // most recently used last
	closed bool
}

type idleConn struct {
	conn  *pgx.Conn
	since time.Time
}

// idleCheck is how long a connection may sit idle before it is pinged on
// its way out, so that a restarted server costs no failed request.
const idleCheck = 30 * time.Second

func newPool(cfg *pgx.ConnConfig, max int) *pool {
	return &pool{cfg: cfg, sem: make(chan struct{}, max)}
}

func (p *pool) acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			<-p.sem
			return nil, errClosed
		}
		var ic idleConn
		if n := len(p.idle); n > 0 {
			ic, p.idle = p.idle[n-1], p.idle[:n-1]
		}
		p.mu.Unlock()
		if ic.conn == nil {
			break
		}
		if time.Since(ic.since) < idleCheck || ic.conn.Ping(ctx) == nil {
			return ic.conn, nil
		}
		ic.conn.Close(context.Background())
	}
	conn, err := pgx.ConnectConfig(ctx, p.cfg.Copy())
	if err != nil {
		<-p.sem
		return nil, err
	}
	utcTimes(conn)
	return conn, nil
}

func (p *pool) release(conn *pgx.Conn) {
	defer func() { <-p.sem }()
	if conn.IsClosed() || conn.PgConn().IsBusy() || conn.PgConn().TxStatus() != 'I' {
		conn.Close(context.Background())
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		conn.Close(context.Background())
		return
	}
	p.idle = append(p.idle, idleConn{conn, time.Now()})
	p.mu.Unlock()
}

// close closes the idle connections; those in use are closed on release.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, ic := range idle {
		ic.conn.Close(context.Background())
	}
}
