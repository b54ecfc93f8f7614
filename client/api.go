package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley"
)

// Session is who an API acts as: the user and its tokens.
type Session struct {
	User         parley.User `json:"user"`
	AccessToken  string      `json:"access_token"`
	RefreshToken string      `json:"refresh_token"`
}

// API calls Parley's REST API as one user. It is safe for concurrent use.
//
// Register and Login make the API act as the user they return. When a call
// answers unauthorized and the API holds a refresh token, the tokens are
// refreshed once and the call is retried; concurrent calls share one refresh,
// because a refresh token is single use (the server rotates it, and revokes
// the whole family when an old one is presented again).
type API struct {
	base string       // base URL without a trailing slash; immutable
	hc   *http.Client // immutable

	refreshMu sync.Mutex // serializes refreshes; taken before mu

	mu   sync.Mutex // guards sess
	sess Session
}

// Option configures an API.
type Option func(*API)

// WithHTTPClient makes the API use hc. Default: a client with a 30 s timeout.
func WithHTTPClient(hc *http.Client) Option { return func(a *API) { a.hc = hc } }

// WithSession makes the API act as s from the start.
func WithSession(s Session) Option { return func(a *API) { a.sess = s } }

// New returns an API for the server at baseURL, such as
// "http://127.0.0.1:8080".
func New(baseURL string, opts ...Option) *API {
	a := &API{
		base: strings.TrimRight(baseURL, "/"),
		hc:   &http.Client{Timeout: 30 * time.Second},
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

// BaseURL returns the base URL given to New.
func (a *API) BaseURL() string { return a.base }

// Session returns the user and tokens the API currently acts with.
func (a *API) Session() Session {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sess
}

// SetSession makes the API act as s.
func (a *API) SetSession(s Session) {
	a.mu.Lock()
	a.sess = s
	a.mu.Unlock()
}

func (a *API) accessToken() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sess.AccessToken
}

// refreshAfter refreshes the tokens after a call made with used was refused.
// If another goroutine already refreshed since, it returns at once, so one
// expiry costs one refresh however many calls noticed it.
func (a *API) refreshAfter(ctx context.Context, used string) error {
	a.refreshMu.Lock()
	defer a.refreshMu.Unlock()
	a.mu.Lock()
	cur, rt := a.sess.AccessToken, a.sess.RefreshToken
	a.mu.Unlock()
	if cur != used {
		return nil
	}
	if rt == "" {
		return parley.ErrUnauthorized
	}
	return a.refresh(ctx, rt)
}

// Refresh exchanges the refresh token for new tokens (both rotate).
func (a *API) Refresh(ctx context.Context) error {
	a.refreshMu.Lock()
	defer a.refreshMu.Unlock()
	rt := a.Session().RefreshToken
	if rt == "" {
		return parley.Errorf(parley.CodeUnauthorized, "no refresh token")
	}
	return a.refresh(ctx, rt)
}

// refresh is called with refreshMu held.
func (a *API) refresh(ctx context.Context, rt string) error {
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	in := map[string]string{"refresh_token": rt}
	if err := a.call(ctx, http.MethodPost, "/v1/auth/refresh", in, &out, false); err != nil {
		return err
	}
	a.mu.Lock()
	a.sess.AccessToken, a.sess.RefreshToken = out.AccessToken, out.RefreshToken
	a.mu.Unlock()
	return nil
}

// do calls the API with the access token, refreshing it once on unauthorized.
func (a *API) do(ctx context.Context, method, path string, in, out any) error {
	used := a.accessToken()
	err := a.call(ctx, method, path, in, out, true)
	if !errors.Is(err, parley.ErrUnauthorized) {
		return err
	}
	if rerr := a.refreshAfter(ctx, used); rerr != nil {
		return err
	}
	return a.call(ctx, method, path, in, out, true)
}

// call makes one request. An error answer is returned as *parley.Error.
func (a *API) call(ctx context.Context, method, path string, in, out any, auth bool) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if tok := a.accessToken(); auth && tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("client: %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		return decodeError(resp.StatusCode, b)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("client: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// statusCode maps an HTTP status to the error code of API.md, for answers
// whose body is not the documented error object (a proxy's 502, say).
var statusCode = map[int]parley.Code{
	http.StatusBadRequest:            parley.CodeInvalid,
	http.StatusUnauthorized:          parley.CodeUnauthorized,
	http.StatusForbidden:             parley.CodeForbidden,
	http.StatusNotFound:              parley.CodeNotFound,
	http.StatusConflict:              parley.CodeConflict,
	http.StatusRequestEntityTooLarge: parley.CodeTooLarge,
	http.StatusTooManyRequests:       parley.CodeRateLimited,
}

// decodeError turns an error answer into a *parley.Error: the code and
// message of its body, or, for a body that is not the documented
// {"error": {code, message}}, a code derived from the status.
func decodeError(status int, body []byte) *parley.Error {
	var e struct {
		Error *parley.ErrorBody `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != nil && e.Error.Code != "" {
		return &parley.Error{Code: e.Error.Code, Message: e.Error.Message}
	}
	code, ok := statusCode[status]
	if !ok {
		code = parley.CodeInternal
	}
	msg := http.StatusText(status)
	if msg == "" {
		msg = fmt.Sprintf("status %d", status)
	}
	return &parley.Error{Code: code, Message: msg}
}

// esc escapes one path segment.
func esc(s string) string { return url.PathEscape(s) }
