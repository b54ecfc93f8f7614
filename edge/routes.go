package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/parley-im/parley"
)

// routes builds the HTTP API of API.md.
func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit("1M"))
	e.Use(s.countRequests)

	e.GET("/healthz", s.healthz)
	e.GET("/metrics", s.metricsHandler)

	v1 := e.Group("/v1")
	v1.POST("/auth/register", s.register)
	v1.POST("/auth/login", s.login)
	v1.POST("/auth/refresh", s.refresh)
	v1.POST("/auth/logout", s.logout)
	v1.GET("/ws", s.serveWS) // authenticates itself: header or ticket

	a := v1.Group("", s.requireAuth)
	a.POST("/ws/ticket", s.wsTicket)
	a.GET("/me", s.me)
	a.GET("/users", s.searchUsers)

	a.POST("/conversations", s.createConversation)
	a.GET("/conversations", s.listConversations)
	a.GET("/conversations/:cid", s.getConversation)
	a.PATCH("/conversations/:cid", s.updateConversation)
	a.POST("/conversations/:cid/members", s.addMembers)
	a.DELETE("/conversations/:cid/members/:uid", s.removeMember)
	a.GET("/conversations/:cid/members", s.listMembers)
	a.POST("/conversations/:cid/messages", s.postMessage)
	a.GET("/conversations/:cid/messages", s.listMessages)
	a.PATCH("/conversations/:cid/messages/:mid", s.patchMessage)
	a.DELETE("/conversations/:cid/messages/:mid", s.deleteMessageHandler)
	a.GET("/conversations/:cid/messages/:mid/history", s.messageHistory)
	a.POST("/conversations/:cid/read", s.postRead)
	return e
}

// Request plumbing shared by the REST handlers.

const (
	defaultLimit = 50
	maxLimit     = 200
)

// decodeJSON decodes the request body into v. Unknown fields are ignored;
// an empty or malformed body is invalid; one over the body limit is
// too_large (the limit's own error is passed through).
func decodeJSON(c echo.Context, v any) error {
	data, err := io.ReadAll(c.Request().Body)
	if err == nil && !utf8.Valid(data) {
		// encoding/json would quietly replace the bad bytes.
		return parley.Errorf(parley.CodeInvalid, "request body is not valid UTF-8")
	}
	if err == nil {
		err = json.Unmarshal(data, v)
		if len(bytes.TrimSpace(data)) == 0 {
			err = io.EOF
		}
	}
	var he *echo.HTTPError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &he):
		return err
	case errors.Is(err, io.EOF):
		return parley.Errorf(parley.CodeInvalid, "request body is empty")
	case errors.As(err, &te) && te.Field != "":
		return parley.Errorf(parley.CodeInvalid, "%s must be of type %s", te.Field, te.Value)
	default:
		return parley.Errorf(parley.CodeInvalid, "malformed JSON body")
	}
}

// queryLimit returns the ?limit= of a list call: defaultLimit when absent,
// at most maxLimit (larger values are clamped), invalid if not a positive
// integer.
func queryLimit(c echo.Context) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, parley.Errorf(parley.CodeInvalid, "limit must be a positive integer")
	}
	return min(n, maxLimit), nil
}
