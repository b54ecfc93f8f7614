package edge

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"

	"github.com/parley-im/parley"
)

// readyTimeout bounds Config.Ready in one health check.
const readyTimeout = 2 * time.Second

// healthz answers 200 {"status":"ok"} when the edge can serve: NATS is
// connected and Config.Ready, if set, reports ready. Otherwise 503 with
// {"status":"unavailable","error":{...}} saying why.
func (s *Server) healthz(c echo.Context) error {
	if err := s.ready(c.Request().Context()); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]any{
			"status": "unavailable",
			"error":  parley.ErrorBody{Code: parley.CodeInternal, Message: err.Error()},
		})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) ready(ctx context.Context) error {
	if st := s.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("nats %s", st)
	}
	if s.cfg.Ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := s.cfg.Ready(ctx); err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	return nil
}
