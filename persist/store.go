package persist

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Store is Parley's database of record. It satisfies edge.Store.
type Store struct {
	pool *pool
}

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string) and checks that it answers. The URL may carry
// pool_max_conns (default: 4 per CPU, at least 8), which is not sent to the
// server. Open does not migrate: call Migrate.
func Open(ctx context.Context, dbURL string) (*Store, error) {
	dbURL, max, err := poolSize(dbURL)
	if err != nil {
		return nil, fmt.Errorf("persist: %w", err)
	}
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("persist: parse database url: %w", err)
	}
	s := &Store{pool: newPool(cfg, max)}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("persist: connect: %w", err)
	}
	return s, nil
}

// poolSize takes pool_max_conns out of a URL.
func poolSize(dbURL string) (string, int, error) {
	max := max(8, 4*runtime.GOMAXPROCS(0))
	if !strings.HasPrefix(dbURL, "postgres://") && !strings.HasPrefix(dbURL, "postgresql://") {
		return dbURL, max, nil
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", 0, fmt.Errorf("parse database url: %w", err)
	}
	q := u.Query()
	if v := q.Get("pool_max_conns"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return "", 0, fmt.Errorf("pool_max_conns=%q: want a positive integer", v)
		}
		max = n
		q.Del("pool_max_conns")
		u.RawQuery = q.Encode()
	}
	return u.String(), max, nil
}

// Close closes the store's connections.
func (s *Store) Close() { s.pool.close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.withConn(ctx, func(c *pgx.Conn) error { return c.Ping(ctx) })
}

// withConn runs fn on a connection of the pool.
func (s *Store) withConn(ctx context.Context, fn func(c *pgx.Conn) error) error {
	c, err := s.pool.acquire(ctx)
	if err != nil {
		return err
	}
	defer s.pool.release(c)
	return fn(c)
}

// read runs fn with a querier outside any transaction.
func (s *Store) read(ctx context.Context, fn func(q querier) error) error {
	return s.withConn(ctx, func(c *pgx.Conn) error { return fn(c) })
}

// tx runs fn in a transaction, committed if fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.withConn(ctx, func(c *pgx.Conn) error { return pgx.BeginFunc(ctx, c, fn) })
}

// utcTimes makes timestamptz values scan as UTC times, as the API shows them.
func utcTimes(c *pgx.Conn) {
	c.TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID, Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a random id: 16 bytes, 26 characters of lower-case base32.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// likePrefix returns a LIKE pattern matching strings that start with s.
func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "%"
}

func limitOr(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return limit
}
