package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parley-im/parley"
)

func TestDecodeError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   *parley.Error
		is     error
	}{
		{
			name:   "documented body",
			status: 404,
			body:   `{"error":{"code":"not_found","message":"no such conversation"}}`,
			want:   &parley.Error{Code: parley.CodeNotFound, Message: "no such conversation"},
			is:     parley.ErrNotFound,
		},
		{
			name:   "the body's code wins over the status",
			status: 400,
			body:   `{"error":{"code":"too_large","message":"body is larger than 16384 bytes"}}`,
			want:   &parley.Error{Code: parley.CodeTooLarge, Message: "body is larger than 16384 bytes"},
		},
		{
			name:   "not JSON: code from the status",
			status: 401,
			body:   `<html>nope</html>`,
			want:   &parley.Error{Code: parley.CodeUnauthorized, Message: "Unauthorized"},
			is:     parley.ErrUnauthorized,
		},
		{
			name:   "JSON without an error object",
			status: 429,
			body:   `{"message":"slow down"}`,
			want:   &parley.Error{Code: parley.CodeRateLimited, Message: "Too Many Requests"},
		},
		{
			name:   "unknown status",
			status: 502,
			body:   ``,
			want:   &parley.Error{Code: parley.CodeInternal, Message: "Bad Gateway"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeError(tt.status, []byte(tt.body))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if tt.is != nil && !errors.Is(got, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", got, tt.is)
			}
		})
	}
}

// roundTrip is an http.RoundTripper made of a function.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func answer(status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
}

// TestRefreshOnce checks the client's side of token rotation: calls that
// fail together with an expired token cause one refresh, never a second one
// with the already rotated refresh token (which would revoke the family).
func TestRefreshOnce(t *testing.T) {
	var refreshes atomic.Int32
	var mu sync.Mutex
	valid := "new-access"
	rt := roundTrip(func(r *http.Request) (*http.Response, error) {
		switch r.URL.Path {
		case "/v1/auth/refresh":
			b, _ := io.ReadAll(r.Body)
			if !strings.Contains(string(b), `"old-refresh"`) {
				return answer(401, `{"error":{"code":"unauthorized","message":"refresh token reused"}}`), nil
			}
			refreshes.Add(1)
			return answer(200, `{"access_token":"new-access","refresh_token":"new-refresh"}`), nil
		case "/v1/me":
			mu.Lock()
			ok := r.Header.Get("Authorization") == "Bearer "+valid
			mu.Unlock()
			if !ok {
				return answer(401, `{"error":{"code":"unauthorized","message":"token expired"}}`), nil
			}
			return answer(200, `{"user":{"id":"u1","username":"ada","display_name":"Ada"}}`), nil
		}
		return answer(404, `{"error":{"code":"not_found","message":"not found"}}`), nil
	})
	a := New("http://parley.test", WithHTTPClient(&http.Client{Transport: rt}),
		WithSession(Session{AccessToken: "old-access", RefreshToken: "old-refresh"}))

	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = a.Me(context.Background())
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if n := refreshes.Load(); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	if s := a.Session(); s.AccessToken != "new-access" || s.RefreshToken != "new-refresh" {
		t.Errorf("session after refresh = %+v", s)
	}

	// Once the refresh token is refused too, the call's own error comes back.
	mu.Lock()
	valid = "something else"
	mu.Unlock()
	if _, err := a.Me(context.Background()); !errors.Is(err, parley.ErrUnauthorized) {
		t.Errorf("Me with a refused refresh token: %v, want unauthorized", err)
	}
}
