package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/streams"
)

// Config configures an edge. The zero value of each field picks the default
// beside it, except where it says "required".
type Config struct {
	Store  Store          // required
	NC     *nats.Conn     // required; the edge does not close it
	Layout streams.Layout // zero: the production layout
	Logger *slog.Logger   // nil: slog.Default()
	// Metrics is the registry the edge registers its metrics in and serves
	// at /metrics. nil: a registry of its own.
	Metrics *prometheus.Registry

	// TokenKey signs and verifies access tokens; every edge of one
	// installation must share it. Required, at least 32 bytes.
	TokenKey []byte
	// AccessTTL is the lifetime of an access token. 0: 15 minutes.
	AccessTTL time.Duration
	// RefreshTTL is the lifetime of a refresh token. 0: 30 days.
	RefreshTTL time.Duration
	// PasswordParams sets the argon2id cost. Zero: the production cost
	// (time 2, 19 MiB, 1 thread).
	PasswordParams PasswordParams

	// AllowedOrigins lists the Origin values a browser WebSocket upgrade may
	// carry, such as "https://chat.example.com". Empty: only the same origin
	// as the request's Host. "*" allows any origin.
	AllowedOrigins []string

	// SendQueue is the number of frames buffered per socket before the
	// socket is closed as too slow. 0: 1024.
	SendQueue int
	// PersistWait bounds how long a read-your-writes request waits for the
	// persist workers to catch up. 0: 5s.
	PersistWait time.Duration
	// Ready, when set, is consulted by /healthz besides the edge's own checks.
	Ready func(ctx context.Context) error
}

// Server is one edge.
type Server struct {
	cfg    Config
	log    *slog.Logger
	store  Store
	nc     *nats.Conn
	js     jetstream.JetStream
	layout streams.Layout
	echo   *echo.Echo
	tokens *tokens
	cache  *membershipCache
	hub    *hub
	met    *metrics
}

// New returns an edge; call Run to serve.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.NC == nil {
		return nil, errors.New("edge: Store and NC are required")
	}
	if len(cfg.TokenKey) < 32 {
		return nil, errors.New("edge: TokenKey must be at least 32 bytes")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AccessTTL == 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.RefreshTTL == 0 {
		cfg.RefreshTTL = 30 * 24 * time.Hour
	}
	if cfg.SendQueue == 0 {
		cfg.SendQueue = 1024
	}
	if cfg.PersistWait == 0 {
		cfg.PersistWait = 5 * time.Second
	}
	js, err := jetstream.New(cfg.NC)
	if err != nil {
		return nil, fmt.Errorf("edge: jetstream: %w", err)
	}
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		store:  cfg.Store,
		nc:     cfg.NC,
		js:     js,
		layout: cfg.Layout,
		tokens: newTokens(cfg.TokenKey, cfg.AccessTTL),
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
		s.cfg.Metrics = cfg.Metrics
	}
	s.met = newMetrics(s, cfg.Metrics)
	s.cache = newMembershipCache(cfg.Store)
	s.hub = newHub(s)
	s.echo = s.routes()
	return s, nil
}

// Handler returns the HTTP handler of the edge.
func (s *Server) Handler() http.Handler { return s.echo }

// Run serves until ctx is done, then shuts down: it stops accepting, closes
// every socket with a going-away code so that clients reconnect elsewhere
// and resume, and waits for in-flight requests. It does not close NC.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.echo, ReadHeaderTimeout: 10 * time.Second}
	if err := s.hub.start(ctx); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.hub.stop()
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.SetKeepAlivesEnabled(false)
	shutErr := srv.Shutdown(shutCtx)
	s.hub.stop() // http.Server.Shutdown does not close hijacked connections
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return shutErr
}

// httpStatus is the one table from error code to HTTP status.
var httpStatus = map[parley.Code]int{
	parley.CodeInvalid:      http.StatusBadRequest,
	parley.CodeUnauthorized: http.StatusUnauthorized,
	parley.CodeForbidden:    http.StatusForbidden,
	parley.CodeNotFound:     http.StatusNotFound,
	parley.CodeConflict:     http.StatusConflict,
	parley.CodeTooLarge:     http.StatusRequestEntityTooLarge,
	parley.CodeRateLimited:  http.StatusTooManyRequests,
	parley.CodeInternal:     http.StatusInternalServerError,
}

// errorHandler writes every error as {"error": {code, message}}; only
// internal errors are logged, and users see "internal error" for them.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	code := parley.ErrorCode(err)
	msg := parley.ErrorMessage(err)
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			code, msg = parley.CodeNotFound, "not found"
		case http.StatusRequestEntityTooLarge:
			code, msg = parley.CodeTooLarge, "request body too large"
		case http.StatusBadRequest:
			code, msg = parley.CodeInvalid, fmt.Sprint(he.Message)
		case http.StatusUnauthorized:
			code, msg = parley.CodeUnauthorized, "unauthorized"
		default:
			code, msg = parley.CodeInternal, "internal error"
		}
	}
	if code == parley.CodeInternal {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
	}
	status := httpStatus[code]
	if code == parley.CodeRateLimited {
		c.Response().Header().Set("Retry-After", "1")
	}
	_ = c.JSON(status, map[string]any{"error": parley.ErrorBody{Code: code, Message: msg}})
}
