package edge

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley-im/parley"
)

func TestRequireAuth(t *testing.T) {
	s := &Server{tokens: newTokens(testKey, time.Minute)}
	valid, _, err := s.tokens.issue("u1")
	if err != nil {
		t.Fatal(err)
	}
	ticket, _, err := s.tokens.issueTicket("u1")
	if err != nil {
		t.Fatal(err)
	}
	forged, _, err := newTokens(otherKey, time.Minute).issue("u1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, header string
		wantUID      string // "" wants 401
	}{
		{"valid", "Bearer " + valid, "u1"},
		{"lower-case scheme", "bearer " + valid, "u1"},
		{"missing", "", ""},
		{"no scheme", valid, ""},
		{"basic", "Basic dTE6cHc=", ""},
		{"empty token", "Bearer ", ""},
		{"forged", "Bearer " + forged, ""},
		{"ticket", "Bearer " + ticket, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := echo.New()
			req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			c := e.NewContext(req, httptest.NewRecorder())
			var got string
			err := s.requireAuth(func(c echo.Context) error {
				got = userID(c)
				return nil
			})(c)
			if tc.wantUID != "" {
				if err != nil || got != tc.wantUID {
					t.Errorf("requireAuth: uid %q, err %v; want %q", got, err, tc.wantUID)
				}
				return
			}
			if !errors.Is(err, parley.ErrUnauthorized) {
				t.Fatalf("requireAuth: uid %q, err %v; want unauthorized", got, err)
			}
			if h := c.Response().Header().Get("WWW-Authenticate"); h == "" {
				t.Error("no WWW-Authenticate header on a refused request")
			}
		})
	}
}

func TestUserIDOutsideRequireAuth(t *testing.T) {
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder())
	if uid := userID(c); uid != "" {
		t.Errorf("userID = %q outside requireAuth", uid)
	}
}
