package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/parley-im/parley"
)

func load(tb testing.TB) *openapi3.T {
	tb.Helper()
	doc, err := Load(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() {
		tb.Fatalf("openapi %s, want 3.1", doc.OpenAPI)
	}
	return doc
}

func TestSpecValid(t *testing.T) { load(t) }

// routeCall matches a route registration in edge/routes.go, such as
// a.GET("/conversations/:cid", ...).
var routeCall = regexp.MustCompile(`(?m)^\s*(\w+)\.(GET|POST|PUT|PATCH|DELETE)\("([^"]*)"`)

// TestEveryRouteDocumented checks that each route of the edge's route table
// has an operation in the spec.
func TestEveryRouteDocumented(t *testing.T) {
	doc := load(t)
	src, err := os.ReadFile("../edge/routes.go")
	if err != nil {
		t.Fatal(err)
	}
	prefix := map[string]string{"e": "", "v1": "/v1", "a": "/v1"}
	matches := routeCall.FindAllStringSubmatch(string(src), -1)
	if len(matches) < 10 {
		t.Fatalf("found only %d routes in edge/routes.go", len(matches))
	}
	param := regexp.MustCompile(`:(\w+)`)
	for _, m := range matches {
		group, method, path := m[1], m[2], m[3]
		p, ok := prefix[group]
		if !ok {
			t.Errorf("route %s %s on unknown group %q: teach this test its prefix", method, path, group)
			continue
		}
		full := param.ReplaceAllString(p+path, "{$1}")
		item := doc.Paths.Find(full)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("%s %s is served but not in openapi.yaml", method, full)
		}
	}
}

// TestDomainJSONMatchesSchemas validates the JSON encoding of the domain
// types, as the handlers send it, against the response schemas.
func TestDomainJSONMatchesSchemas(t *testing.T) {
	doc := load(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.UTC)
	alice := parley.User{ID: "u1", Username: "alice", DisplayName: "Alice ✨"}
	bob := parley.User{ID: "u2", Username: "bob", DisplayName: "bob"}
	reply := "7"
	msg := parley.Message{
		ID: "9", ConversationID: "c1", Seq: 9, PrevSeq: 7, ClientID: "k-1", SenderID: "u1",
		Body: "hi @bob", ReplyTo: &reply, Mentions: []string{"u2"},
		Reactions: map[string]int{"👍": 2}, CreatedAt: at, EditedAt: &at,
	}
	first := parley.Message{
		ID: "1", ConversationID: "c1", Seq: 1, ClientID: "k-0", SenderID: "u2",
		Mentions: []string{}, Reactions: map[string]int{}, CreatedAt: at, Deleted: true,
	}
	group := parley.Conversation{
		ID: "c1", Type: parley.Group, Title: "Team", Members: []parley.Member{
			{User: alice, Role: parley.RoleOwner}, {User: bob, Role: parley.RoleMember},
		},
		CreatedAt: at, LastMessage: &msg, UnreadCount: 3,
	}
	direct := parley.Conversation{
		ID: "c2", Type: parley.Direct, E2E: true, Members: []parley.Member{
			{User: alice, Role: parley.RoleMember}, {User: bob, Role: parley.RoleMember},
		},
		CreatedAt: at,
	}
	errBody := map[string]any{"error": parley.ErrorBody{Code: parley.CodeNotFound, Message: "not found"}}

	for _, tc := range []struct {
		name, method, path string
		status             int
		body               any
	}{
		{"register", "POST", "/v1/auth/register", 201, map[string]any{
			"user": alice, "access_token": "a.b", "expires_at": at, "refresh_token": "r"}},
		{"refresh", "POST", "/v1/auth/refresh", 200, map[string]any{
			"access_token": "a.b", "expires_at": at, "refresh_token": "r"}},
		{"login failed", "POST", "/v1/auth/login", 401, map[string]any{
			"error": parley.ErrorBody{Code: parley.CodeUnauthorized, Message: "wrong username or password"}}},
		{"me", "GET", "/v1/me", 200, map[string]any{"user": alice}},
		{"users", "GET", "/v1/users?q=a", 200, map[string]any{"users": []parley.User{alice, bob}}},
		{"ticket", "POST", "/v1/ws/ticket", 201, map[string]any{"ticket": "t.s", "expires_at": at}},
		{"create group", "POST", "/v1/conversations", 201, map[string]any{"conversation": group}},
		{"existing direct", "POST", "/v1/conversations", 200, map[string]any{"conversation": direct}},
		{"list conversations", "GET", "/v1/conversations", 200, map[string]any{
			"conversations": []parley.Conversation{group, direct}, "next_cursor": "abc"}},
		{"conversation not found", "GET", "/v1/conversations/zz", 404, errBody},
		{"members", "GET", "/v1/conversations/c1/members?q=b", 200, map[string]any{
			"members": group.Members}},
		{"send", "POST", "/v1/conversations/c1/messages", 201, map[string]any{"message": msg}},
		{"history page", "GET", "/v1/conversations/c1/messages?after_seq=0", 200, map[string]any{
			"messages": []parley.Message{first, msg}, "next_cursor": "9"}},
		{"edit", "PATCH", "/v1/conversations/c1/messages/9", 200, map[string]any{"message": msg}},
		{"versions", "GET", "/v1/conversations/c1/messages/9/history", 200, map[string]any{
			"versions": []parley.MessageVersion{{Seq: 9, Body: "hi", EditedAt: at}, {Seq: 12, Body: "hi @bob", EditedAt: at}}}},
		{"too large", "POST", "/v1/conversations/c1/messages", 413, map[string]any{
			"error": parley.ErrorBody{Code: parley.CodeTooLarge, Message: "body is larger than 16384 bytes"}}},
		{"healthz", "GET", "/healthz", 200, map[string]string{"status": "ok"}},
		{"unhealthy", "GET", "/healthz", 503, map[string]any{
			"status": "unavailable", "error": parley.ErrorBody{Code: parley.CodeInternal, Message: "nats CLOSED"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := validate(router, tc.method, tc.path, tc.status, tc.body); err != nil {
				t.Error(err)
			}
		})
	}

	// And the schemas are strict enough to catch what a careless handler
	// would send.
	nullMentions := msg
	nullMentions.Mentions = nil
	for _, tc := range []struct {
		name, method, path string
		status             int
		body               any
	}{
		{"null mentions", "POST", "/v1/conversations/c1/messages", 201, map[string]any{"message": nullMentions}},
		{"no user", "POST", "/v1/auth/register", 201, map[string]any{"access_token": "a", "expires_at": at, "refresh_token": "r"}},
		{"null list", "GET", "/v1/users", 200, map[string]any{"users": nil}},
		{"unknown error code", "GET", "/v1/me", 401, map[string]any{"error": map[string]string{"code": "nope", "message": "x"}}},
		{"bad role", "GET", "/v1/conversations/c1/members", 200, map[string]any{
			"members": []parley.Member{{User: alice, Role: "king"}}}},
	} {
		t.Run("reject "+tc.name, func(t *testing.T) {
			if err := validate(router, tc.method, tc.path, tc.status, tc.body); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// validate checks a JSON response against the spec's operation for method
// and target.
func validate(router routers.Router, method, target string, status int, body any) error {
	req := httptest.NewRequest(method, target, nil)
	route, params, err := router.FindRoute(req)
	if err != nil {
		return err
	}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: status,
		Header: h,
		Body:   io.NopCloser(bytes.NewReader(data)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	})
}
