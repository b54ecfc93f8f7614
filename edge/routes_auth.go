package edge

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/parley-im/parley"
)

// session is the answer of register, login and refresh. User is absent
// from refresh answers.
type session struct {
	User         *parley.User `json:"user,omitempty"`
	AccessToken  string       `json:"access_token"`
	ExpiresAt    time.Time    `json:"expires_at"` // of the access token
	RefreshToken string       `json:"refresh_token"`
}

// errBadCredentials is the one answer to a failed login, whatever failed.
var errBadCredentials = parley.Errorf(parley.CodeUnauthorized, "wrong username or password")

func (s *Server) register(c echo.Context) error {
	var req struct {
		Username    string `json:"username"`
		Password    string `json:"password"`
		DisplayName string `json:"display_name"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if !parley.ValidUsername(req.Username) {
		return parley.Errorf(parley.CodeInvalid, "username must be 3 to 32 of a-z, 0-9 and _")
	}
	if err := parley.ValidatePassword(req.Password); err != nil {
		return err
	}
	display, err := displayName(req.DisplayName, req.Username)
	if err != nil {
		return err
	}
	hash, err := hashPassword(s.cfg.PasswordParams, req.Password)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := s.store.CreateUser(ctx, req.Username, display, hash)
	if err != nil {
		return err
	}
	out, err := s.newSession(ctx, u)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

// displayName validates a display name: trimmed, at most
// parley.MaxDisplayRunes, no control characters; empty means the username.
func displayName(name, username string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return username, nil
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > parley.MaxDisplayRunes ||
		strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", parley.Errorf(parley.CodeInvalid, "display_name must be at most %d printable characters", parley.MaxDisplayRunes)
	}
	return name, nil
}

func (s *Server) login(c echo.Context) error {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.Password) > parley.MaxPasswordBytes {
		return errBadCredentials // no hash: bounds the work a caller can ask for
	}
	ctx := c.Request().Context()
	u, hash, err := s.store.UserCredentials(ctx, strings.ToLower(req.Username))
	switch {
	case errors.Is(err, parley.ErrNotFound):
		// Spend a hash anyway, so that timing does not tell whether
		// the username exists.
		wastePasswordHash(s.cfg.PasswordParams, req.Password)
		return errBadCredentials
	case err != nil:
		return err
	}
	ok, err := verifyPassword(hash, req.Password)
	if err != nil {
		return err
	}
	if !ok {
		return errBadCredentials
	}
	out, err := s.newSession(ctx, u)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// newSession issues an access token and the first refresh token of a new
// family for u.
func (s *Server) newSession(ctx context.Context, u parley.User) (session, error) {
	access, exp, err := s.tokens.issue(u.ID)
	if err != nil {
		return session{}, err
	}
	refresh, hash, err := newRefreshToken()
	if err != nil {
		return session{}, err
	}
	family, err := newFamilyID()
	if err != nil {
		return session{}, err
	}
	if err := s.store.CreateRefreshToken(ctx, u.ID, family, hash, time.Now().Add(s.cfg.RefreshTTL)); err != nil {
		return session{}, err
	}
	return session{User: &u, AccessToken: access, ExpiresAt: exp, RefreshToken: refresh}, nil
}

// refresh rotates a refresh token: the old one stops working and a new one
// of the same family replaces it. Presenting a token that was already
// rotated revokes the whole family (the Store detects the reuse).
func (s *Server) refresh(c echo.Context) error {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if !wellFormedRefreshToken(req.RefreshToken) {
		return parley.Errorf(parley.CodeUnauthorized, "invalid refresh token")
	}
	next, nextHash, err := newRefreshToken()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	uid, err := s.store.RotateRefreshToken(ctx, hashRefreshToken(req.RefreshToken), nextHash, time.Now().Add(s.cfg.RefreshTTL))
	if errors.Is(err, parley.ErrNotFound) {
		err = parley.Errorf(parley.CodeUnauthorized, "invalid refresh token")
	}
	if err != nil {
		return err
	}
	access, exp, err := s.tokens.issue(uid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, session{AccessToken: access, ExpiresAt: exp, RefreshToken: next})
}

// logout revokes a refresh token. It is idempotent: an unknown or already
// revoked token answers 204 too. Access tokens already issued stay valid
// until they expire.
func (s *Server) logout(c echo.Context) error {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.RefreshToken == "" {
		return parley.Errorf(parley.CodeInvalid, "refresh_token is required")
	}
	if wellFormedRefreshToken(req.RefreshToken) {
		err := s.store.RevokeRefreshToken(c.Request().Context(), hashRefreshToken(req.RefreshToken))
		if err != nil && !errors.Is(err, parley.ErrNotFound) && !errors.Is(err, parley.ErrUnauthorized) {
			return err
		}
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) wsTicket(c echo.Context) error {
	t, exp, err := s.tokens.issueTicket(userID(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"ticket": t, "expires_at": exp})
}

func (s *Server) me(c echo.Context) error {
	u, err := s.store.User(c.Request().Context(), userID(c))
	if errors.Is(err, parley.ErrNotFound) {
		return parley.Errorf(parley.CodeUnauthorized, "account no longer exists")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user": u})
}

// searchUsers finds people by username prefix (?q=, case-insensitive).
func (s *Server) searchUsers(c echo.Context) error {
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	q := strings.ToLower(strings.TrimSpace(c.QueryParam("q")))
	users, err := s.store.SearchUsers(c.Request().Context(), q, limit)
	if err != nil {
		return err
	}
	if users == nil {
		users = []parley.User{}
	}
	return c.JSON(http.StatusOK, map[string]any{"users": users})
}
