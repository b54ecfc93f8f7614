package edge

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley-im/parley"
)

// userIDKey is the request-context key under which requireAuth stores the
// authenticated user's id.
type userIDKey struct{}

// requireAuth admits requests carrying a valid access token in
// "Authorization: Bearer <token>" and records the user for the handlers
// (see userID). Anything else is unauthorized. Verification is local: no
// database round trip.
func (s *Server) requireAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		uid, err := s.bearerUser(c.Request())
		if err != nil {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
			return err
		}
		r := c.Request()
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), userIDKey{}, uid)))
		return next(c)
	}
}

// userID returns the id of the user requireAuth admitted, "" outside it.
func userID(c echo.Context) string {
	uid, _ := c.Request().Context().Value(userIDKey{}).(string)
	return uid
}

// bearerUser verifies the request's bearer token.
func (s *Server) bearerUser(r *http.Request) (string, error) {
	scheme, tok, ok := strings.Cut(r.Header.Get(echo.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", parley.Errorf(parley.CodeUnauthorized, "missing bearer token")
	}
	return s.tokens.verify(strings.TrimSpace(tok))
}

// authenticateWS authenticates a WebSocket upgrade: with the Authorization
// header when present, otherwise with a single-use ?ticket= (browsers cannot
// set headers on a WebSocket). A ticket is spent by this call.
func (s *Server) authenticateWS(c echo.Context) (string, error) {
	r := c.Request()
	if r.Header.Get(echo.HeaderAuthorization) != "" {
		return s.bearerUser(r)
	}
	if t := c.QueryParam("ticket"); t != "" {
		return s.redeemTicket(r.Context(), t)
	}
	return "", parley.Errorf(parley.CodeUnauthorized, "missing bearer token or ticket")
}

// bearerExpiry returns when the request's bearer access token expires, or
// the zero time when it has none (a ticket upgrade).
func (s *Server) bearerExpiry(r *http.Request) time.Time {
	scheme, tok, ok := strings.Cut(r.Header.Get(echo.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return time.Time{}
	}
	c, err := s.tokens.parse(strings.TrimSpace(tok), typAccess)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(c.Exp, 0)
}
