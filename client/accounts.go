package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/parley-im/parley"
)

// Register creates an account and makes the API act as it. displayName may
// be empty.
func (a *API) Register(ctx context.Context, username, password, displayName string) (Session, error) {
	in := map[string]string{"username": username, "password": password}
	if displayName != "" {
		in["display_name"] = displayName
	}
	return a.authenticate(ctx, "/v1/auth/register", in)
}

// Login signs in and makes the API act as the user.
func (a *API) Login(ctx context.Context, username, password string) (Session, error) {
	in := map[string]string{"username": username, "password": password}
	return a.authenticate(ctx, "/v1/auth/login", in)
}

func (a *API) authenticate(ctx context.Context, path string, in any) (Session, error) {
	var s Session
	if err := a.call(ctx, http.MethodPost, path, in, &s, false); err != nil {
		return Session{}, err
	}
	a.SetSession(s)
	return s, nil
}

// Me returns the user the API acts as.
func (a *API) Me(ctx context.Context) (parley.User, error) {
	var out struct {
		User parley.User `json:"user"`
	}
	err := a.do(ctx, http.MethodGet, "/v1/me", nil, &out)
	return out.User, err
}

// SearchUsers returns the users whose username starts with prefix.
func (a *API) SearchUsers(ctx context.Context, prefix string) ([]parley.User, error) {
	var out struct {
		Users []parley.User `json:"users"`
	}
	err := a.do(ctx, http.MethodGet, "/v1/users?q="+url.QueryEscape(prefix), nil, &out)
	return out.Users, err
}

// WSTicket returns a single-use ticket that authenticates one WebSocket
// upgrade as `GET /v1/ws?ticket=...`, for clients that cannot set headers.
func (a *API) WSTicket(ctx context.Context) (string, error) {
	var out struct {
		Ticket string `json:"ticket"`
	}
	err := a.do(ctx, http.MethodPost, "/v1/ws/ticket", nil, &out)
	return out.Ticket, err
}
