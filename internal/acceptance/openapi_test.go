package acceptance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gorilla/websocket"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/internal/testenv"
)

// specClient calls one edge over plain net/http and checks every request it
// makes and every answer it gets against api/openapi.yaml.
type specClient struct {
	base   string
	hc     *http.Client
	router routers.Router
	doc    *openapi3.T
	opts   *openapi3filter.Options

	mu       sync.Mutex       // guards answered
	answered map[string][]int // operationId → statuses seen
}

// errorStatus is the conventions' table from error code to HTTP status.
var errorStatus = map[parley.Code]int{
	parley.CodeInvalid:      http.StatusBadRequest,
	parley.CodeUnauthorized: http.StatusUnauthorized,
	parley.CodeForbidden:    http.StatusForbidden,
	parley.CodeNotFound:     http.StatusNotFound,
	parley.CodeConflict:     http.StatusConflict,
	parley.CodeTooLarge:     http.StatusRequestEntityTooLarge,
	parley.CodeRateLimited:  http.StatusTooManyRequests,
	parley.CodeInternal:     http.StatusInternalServerError,
}

func newSpecClient(tb testing.TB, base string) *specClient {
	tb.Helper()
	doc, err := api.Load(ctx(tb))
	if err != nil {
		tb.Fatal(err)
	}
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return &specClient{
		base:   base,
		hc:     &http.Client{Timeout: 30 * time.Second},
		router: router,
		doc:    doc,
		opts: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
			AuthenticationFunc:    checkCredentials,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{
				// The conventions say more than RFC 3339: times are in UTC.
				openapi3.WithStringFormatValidator("date-time", openapi3.NewCallbackValidator(utcTime)),
			},
		},
		answered: map[string][]int{},
	}
}

func utcTime(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	if !strings.HasSuffix(s, "Z") || t.Location() != time.UTC {
		return fmt.Errorf("%q is not in UTC", s)
	}
	return nil
}

// checkCredentials accepts a request that carries what its security scheme
// asks for; the edge decides whether the credentials are good.
func checkCredentials(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	switch in.SecuritySchemeName {
	case "bearerAuth":
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return errors.New("no bearer token")
		}
		return nil
	case "wsTicket":
		if r.URL.Query().Get("ticket") == "" {
			return errors.New("no ticket")
		}
		return nil
	}
	return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
}

// specCall is one request.
type specCall struct {
	method, path string
	token        string // bearer token; "" sends none
	body         any    // JSON-encoded unless []byte; nil sends no body
	// offSpec marks a request that breaks the spec on purpose (no token, a
	// bad field): it is sent without being validated.
	offSpec bool
}

// specAnswer is what the edge answered.
type specAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a specAnswer) decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		tb.Fatalf("decode %s: %v", a.body, err)
	}
}

// errorCode returns the code of an error answer.
func (a specAnswer) errorCode(tb testing.TB) parley.Code {
	tb.Helper()
	var e struct {
		Error parley.ErrorBody `json:"error"`
	}
	a.decode(tb, &e)
	return e.Error.Code
}

func (c specCall) request(tb testing.TB, base string) (*http.Request, []byte) {
	tb.Helper()
	var data []byte
	switch b := c.body.(type) {
	case nil:
	case []byte:
		data = b
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			tb.Fatal(err)
		}
	}
	var body io.Reader
	if data != nil {
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx(tb), c.method, base+c.path, body)
	if err != nil {
		tb.Fatal(err)
	}
	if data != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, data
}

// do sends c, checks the request and the answer against the spec, and
// fails the test unless the edge answered want.
func (sc *specClient) do(tb testing.TB, c specCall, want int) specAnswer {
	tb.Helper()
	a := sc.exchange(tb, c)
	if a.status != want {
		tb.Errorf("%s %s: status %d, want %d; answer %s", c.method, c.path, a.status, want, clip(a.body))
	}
	return a
}

// exchange sends c and checks the request and the answer against the spec,
// whatever the status.
func (sc *specClient) exchange(tb testing.TB, c specCall) specAnswer {
	tb.Helper()
	req, _ := c.request(tb, sc.base)
	route, params, err := sc.router.FindRoute(req)
	if err != nil {
		tb.Fatalf("%s %s: not in the spec: %v", c.method, c.path, err)
	}
	if !c.offSpec {
		check, _ := c.request(tb, sc.base) // validation consumes the body
		err := openapi3filter.ValidateRequest(ctx(tb), &openapi3filter.RequestValidationInput{
			Request: check, PathParams: params, Route: route, Options: sc.opts,
		})
		if err != nil {
			tb.Errorf("%s %s: request breaks the spec: %v", c.method, c.path, err)
		}
	}
	resp, err := sc.hc.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read answer: %v", c.method, c.path, err)
	}
	a := specAnswer{status: resp.StatusCode, header: resp.Header, body: body}
	for _, err := range sc.check(req, route, params, a) {
		tb.Errorf("%s %s → %d %s: %v", c.method, c.path, a.status, clip(body), err)
	}
	return a
}

// check validates an answer with kin-openapi, then adds what the spec
// cannot say: the status is documented for the operation itself (not only
// as "default"), an answer documented without content has no body, and an
// error's code is the one the conventions pair with its status.
func (sc *specClient) check(req *http.Request, route *routers.Route, params map[string]string, a specAnswer) []error {
	sc.mu.Lock()
	sc.answered[route.Operation.OperationID] = append(sc.answered[route.Operation.OperationID], a.status)
	sc.mu.Unlock()

	var errs []error
	err := openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route, Options: sc.opts,
		},
		Status:  a.status,
		Header:  a.header,
		Body:    io.NopCloser(bytes.NewReader(a.body)),
		Options: sc.opts,
	})
	if err != nil {
		errs = append(errs, err)
	}
	doc := route.Operation.Responses.Status(a.status)
	if doc == nil {
		errs = append(errs, fmt.Errorf("status %d is not listed for %s", a.status, route.Operation.OperationID))
	} else if len(doc.Value.Content) == 0 && len(a.body) > 0 {
		errs = append(errs, fmt.Errorf("status %d is documented without content, but has a body", a.status))
	}
	if a.status >= 400 {
		var e struct {
			Error *parley.ErrorBody `json:"error"`
		}
		switch {
		case json.Unmarshal(a.body, &e) != nil || e.Error == nil:
			errs = append(errs, errors.New("error answer without an error object"))
		case errorStatus[e.Error.Code] != a.status:
			errs = append(errs, fmt.Errorf("error code %q answered with status %d, want %d", e.Error.Code, a.status, errorStatus[e.Error.Code]))
		case strings.TrimSpace(e.Error.Message) == "":
			errs = append(errs, errors.New("error without a message"))
		}
	}
	return errs
}

// upgrade opens a WebSocket at path (with the given token, if any) and
// checks the handshake's answer against the spec.
func (sc *specClient) upgrade(tb testing.TB, path, token string, want int) {
	tb.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx(tb), "ws"+strings.TrimPrefix(sc.base, "http")+path, h)
	if ws != nil {
		defer ws.Close()
	}
	if resp == nil {
		tb.Fatalf("upgrade %s: %v", path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		tb.Errorf("upgrade %s: status %d, want %d (%v) %s", path, resp.StatusCode, want, err, body)
	}
	req, err := http.NewRequestWithContext(ctx(tb), http.MethodGet, sc.base+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header = h
	route, params, err := sc.router.FindRoute(req)
	if err != nil {
		tb.Fatalf("upgrade %s: not in the spec: %v", path, err)
	}
	for _, err := range sc.check(req, route, params, specAnswer{status: resp.StatusCode, header: resp.Header, body: body}) {
		tb.Errorf("upgrade %s → %d: %v", path, resp.StatusCode, err)
	}
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// uniqueName returns a username no other test uses.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%d_%d", prefix, time.Now().UnixNano()%1e9, userSeq.Add(1))
}

// specSession is the answer of register and login.
type specSession struct {
	User         parley.User `json:"user"`
	AccessToken  string      `json:"access_token"`
	ExpiresAt    time.Time   `json:"expires_at"`
	RefreshToken string      `json:"refresh_token"`
}

func (sc *specClient) register(tb testing.TB, name string) specSession {
	tb.Helper()
	var s specSession
	sc.do(tb, specCall{method: "POST", path: "/v1/auth/register",
		body: map[string]string{"username": name, "password": "correct horse battery"}}, 201).decode(tb, &s)
	return s
}

// TestOpenAPIEveryOperation drives every operation of the spec against a
// real edge, answers good and bad, and checks each exchange against the spec.
func TestOpenAPIEveryOperation(t *testing.T) {
	env := testenv.Start(t)
	sc := newSpecClient(t, env.Edges[0].URL)
	const pw = "correct horse battery"

	// Accounts.
	aliceName := uniqueName("a")
	alice := sc.register(t, aliceName)
	if alice.User.Username != aliceName || alice.User.DisplayName != aliceName {
		t.Errorf("registered %+v, want username and display name %q", alice.User, aliceName)
	}
	if d := time.Until(alice.ExpiresAt); d < 10*time.Minute || d > 16*time.Minute {
		t.Errorf("access token expires in %v, want about 15m", d)
	}
	tok := alice.AccessToken
	sc.do(t, specCall{method: "POST", path: "/v1/auth/register",
		body: map[string]string{"username": aliceName, "password": pw}}, 409)
	if code := sc.do(t, specCall{method: "POST", path: "/v1/auth/register", offSpec: true,
		body: map[string]string{"username": "Not Valid!", "password": pw}}, 400).errorCode(t); code != parley.CodeInvalid {
		t.Errorf("bad username: code %q", code)
	}
	bob := sc.register(t, uniqueName("b"))
	carol := sc.register(t, uniqueName("c"))

	var login specSession
	sc.do(t, specCall{method: "POST", path: "/v1/auth/login",
		body: map[string]string{"username": aliceName, "password": pw}}, 200).decode(t, &login)
	if login.User != alice.User {
		t.Errorf("login user %+v, want %+v", login.User, alice.User)
	}
	wrong := sc.do(t, specCall{method: "POST", path: "/v1/auth/login",
		body: map[string]string{"username": aliceName, "password": "wrong password"}}, 401)
	unknown := sc.do(t, specCall{method: "POST", path: "/v1/auth/login",
		body: map[string]string{"username": uniqueName("nobody"), "password": pw}}, 401)
	if !bytes.Equal(wrong.body, unknown.body) {
		t.Errorf("wrong password answers %s, unknown user %s: they must not differ", wrong.body, unknown.body)
	}

	var tokens specSession
	sc.do(t, specCall{method: "POST", path: "/v1/auth/refresh",
		body: map[string]string{"refresh_token": login.RefreshToken}}, 200).decode(t, &tokens)
	if tokens.RefreshToken == login.RefreshToken || tokens.AccessToken == "" {
		t.Errorf("refresh did not rotate: %+v", tokens)
	}
	sc.do(t, specCall{method: "POST", path: "/v1/auth/logout",
		body: map[string]string{"refresh_token": tokens.RefreshToken}}, 204)
	sc.do(t, specCall{method: "POST", path: "/v1/auth/logout", // idempotent
		body: map[string]string{"refresh_token": tokens.RefreshToken}}, 204)
	sc.do(t, specCall{method: "POST", path: "/v1/auth/refresh",
		body: map[string]string{"refresh_token": tokens.RefreshToken}}, 401)

	var ticket struct{ Ticket string }
	sc.do(t, specCall{method: "POST", path: "/v1/ws/ticket", token: tok}, 201).decode(t, &ticket)
	var me struct{ User parley.User }
	sc.do(t, specCall{method: "GET", path: "/v1/me", token: tok}, 200).decode(t, &me)
	if me.User != alice.User {
		t.Errorf("me = %+v, want %+v", me.User, alice.User)
	}
	noToken := sc.do(t, specCall{method: "GET", path: "/v1/me", offSpec: true}, 401)
	if h := noToken.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
		t.Errorf("401 without a token: WWW-Authenticate %q, want a Bearer challenge", h)
	}
	sc.do(t, specCall{method: "GET", path: "/v1/me", token: "not.a-token"}, 401)

	var found struct{ Users []parley.User }
	sc.do(t, specCall{method: "GET", path: "/v1/users?q=" + aliceName[:len(aliceName)-1], token: tok}, 200).decode(t, &found)
	if !slices.Contains(found.Users, alice.User) {
		t.Errorf("users?q= prefix of %s: %+v", aliceName, found.Users)
	}
	sc.do(t, specCall{method: "GET", path: "/v1/users?limit=0", token: tok, offSpec: true}, 400)

	// Conversations.
	var direct, again, group struct{ Conversation parley.Conversation }
	sc.do(t, specCall{method: "POST", path: "/v1/conversations", token: tok,
		body: map[string]any{"type": "direct", "members": []string{bob.User.ID}}}, 201).decode(t, &direct)
	sc.do(t, specCall{method: "POST", path: "/v1/conversations", token: tok,
		body: map[string]any{"type": "direct", "members": []string{bob.User.ID}}}, 200).decode(t, &again)
	if again.Conversation.ID != direct.Conversation.ID {
		t.Errorf("direct again: id %s, want %s", again.Conversation.ID, direct.Conversation.ID)
	}
	sc.do(t, specCall{method: "POST", path: "/v1/conversations", token: tok,
		body: map[string]any{"type": "group", "title": "Spec", "members": []string{bob.User.ID}}}, 201).decode(t, &group)
	gid := group.Conversation.ID
	sc.do(t, specCall{method: "POST", path: "/v1/conversations", token: tok,
		body: map[string]any{"type": "group", "title": "x", "members": []string{"no-such-user"}}}, 404)
	sc.do(t, specCall{method: "GET", path: "/v1/conversations", token: tok}, 200)
	sc.do(t, specCall{method: "GET", path: "/v1/conversations/" + gid, token: tok}, 200)
	missing := sc.do(t, specCall{method: "GET", path: "/v1/conversations/nosuchconversation", token: tok}, 404)
	hidden := sc.do(t, specCall{method: "GET", path: "/v1/conversations/" + gid, token: carol.AccessToken}, 404)
	if code := missing.errorCode(t); code != parley.CodeNotFound {
		t.Errorf("missing conversation: code %q, want not_found", code)
	}
	if !bytes.Equal(missing.body, hidden.body) {
		t.Errorf("someone else's conversation answers %s, a missing one %s: they must not differ", hidden.body, missing.body)
	}
	var renamed struct{ Conversation parley.Conversation }
	sc.do(t, specCall{method: "PATCH", path: "/v1/conversations/" + gid, token: tok,
		body: map[string]string{"title": "Spec renamed"}}, 200).decode(t, &renamed)
	if renamed.Conversation.Title != "Spec renamed" {
		t.Errorf("renamed title %q", renamed.Conversation.Title)
	}
	sc.do(t, specCall{method: "PATCH", path: "/v1/conversations/" + gid, token: bob.AccessToken,
		body: map[string]string{"title": "mine now"}}, 403)
	sc.do(t, specCall{method: "POST", path: "/v1/conversations/" + gid + "/members", token: tok,
		body: map[string]any{"user_ids": []string{carol.User.ID}}}, 204)
	var members struct{ Members []parley.Member }
	sc.do(t, specCall{method: "GET", path: "/v1/conversations/" + gid + "/members", token: tok}, 200).decode(t, &members)
	roles := map[string]parley.Role{}
	for _, m := range members.Members {
		roles[m.User.ID] = m.Role
	}
	wantRoles := map[string]parley.Role{alice.User.ID: parley.RoleOwner, bob.User.ID: parley.RoleMember, carol.User.ID: parley.RoleMember}
	if diff := cmp.Diff(wantRoles, roles); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	sc.do(t, specCall{method: "GET", path: "/v1/conversations/" + gid + "/members?q=" + url.QueryEscape(carol.User.Username), token: tok}, 200)
	sc.do(t, specCall{method: "DELETE", path: "/v1/conversations/" + gid + "/members/" + carol.User.ID, token: tok}, 204)
	sc.do(t, specCall{method: "DELETE", path: "/v1/conversations/" + gid + "/members/" + carol.User.ID, token: tok}, 404)

	// Messages.
	msgs := "/v1/conversations/" + gid + "/messages"
	var first, repeat struct{ Message parley.Message }
	sc.do(t, specCall{method: "POST", path: msgs, token: tok,
		body: map[string]string{"client_id": "spec-1", "body": "hello"}}, 201).decode(t, &first)
	// The spec answers a repeated client_id with 201 and the stored message.
	sc.do(t, specCall{method: "POST", path: msgs, token: tok,
		body: map[string]string{"client_id": "spec-1", "body": "hello"}}, 201).decode(t, &repeat)
	// created_at is compared in TestRESTClientIDIdempotency.
	if diff := cmp.Diff(first.Message, repeat.Message, cmpopts.EquateApproxTime(time.Microsecond)); diff != "" {
		t.Errorf("the same client_id again answered another message (-first +again):\n%s", diff)
	}
	for i, body := range []string{"two", "three"} {
		sc.do(t, specCall{method: "POST", path: msgs, token: bob.AccessToken,
			body: map[string]any{"client_id": fmt.Sprintf("spec-b%d", i), "body": body, "reply_to": first.Message.ID}}, 201)
	}
	for _, tc := range []struct {
		name string
		size int
	}{{"body over 16 KiB", parley.MaxBodyBytes + 1}, {"request over 1 MiB", 1 << 20}} {
		a := sc.do(t, specCall{method: "POST", path: msgs, token: tok,
			body: map[string]string{"client_id": "spec-big", "body": strings.Repeat("x", tc.size)}}, 413)
		if code := a.errorCode(t); code != parley.CodeTooLarge {
			t.Errorf("%s: code %q, want too_large", tc.name, code)
		}
	}
	sc.do(t, specCall{method: "POST", path: "/v1/conversations/nosuchconversation/messages", token: tok,
		body: map[string]string{"client_id": "spec-x", "body": "lost"}}, 404)

	var page struct {
		Messages   []parley.Message
		NextCursor string `json:"next_cursor"`
	}
	sc.do(t, specCall{method: "GET", path: msgs + "?limit=2", token: tok}, 200).decode(t, &page)
	if len(page.Messages) != 2 || page.NextCursor != page.Messages[0].ID {
		t.Errorf("latest page of 2 of 3: %d messages, next_cursor %q", len(page.Messages), page.NextCursor)
	}
	page.NextCursor = ""
	sc.do(t, specCall{method: "GET", path: msgs + "?after_seq=0&limit=2", token: tok}, 200).decode(t, &page)
	if len(page.Messages) != 2 || page.Messages[0].ID != first.Message.ID || page.NextCursor == "" {
		var ids []string
		for _, m := range page.Messages {
			ids = append(ids, m.ID)
		}
		t.Errorf("?after_seq=0&limit=2 of messages %s, two and three: answered ids %v, next_cursor %q; want the first two from %s on",
			first.Message.ID, ids, page.NextCursor, first.Message.ID)
	}
	sc.do(t, specCall{method: "GET", path: msgs + "?after_seq=" + page.NextCursor, token: tok}, 200)

	one := msgs + "/" + first.Message.ID
	var edited struct{ Message parley.Message }
	sc.do(t, specCall{method: "PATCH", path: one, token: tok, body: map[string]string{"body": "hello, edited"}}, 200).decode(t, &edited)
	if edited.Message.Body != "hello, edited" || edited.Message.EditedAt == nil {
		t.Errorf("edited message %+v", edited.Message)
	}
	sc.do(t, specCall{method: "PATCH", path: one, token: bob.AccessToken, body: map[string]string{"body": "not yours"}}, 403)
	var versions struct{ Versions []parley.MessageVersion }
	sc.do(t, specCall{method: "GET", path: one + "/history", token: tok}, 200).decode(t, &versions)
	if len(versions.Versions) != 2 {
		t.Errorf("history after one edit: %+v", versions.Versions)
	}
	sc.do(t, specCall{method: "DELETE", path: one, token: tok}, 204)
	sc.do(t, specCall{method: "GET", path: one + "/history", token: tok}, 200).decode(t, &versions)
	if len(versions.Versions) != 0 {
		t.Errorf("history of a deleted message: %+v", versions.Versions)
	}
	sc.do(t, specCall{method: "DELETE", path: msgs + "/999999", token: tok}, 404)
	sc.do(t, specCall{method: "POST", path: "/v1/conversations/" + gid + "/read", token: bob.AccessToken,
		body: map[string]uint64{"seq": first.Message.Seq}}, 204)
	sc.do(t, specCall{method: "POST", path: "/v1/conversations/" + gid + "/read", token: carol.AccessToken,
		body: map[string]uint64{"seq": first.Message.Seq}}, 404)

	// Realtime.
	sc.upgrade(t, "/v1/ws", tok, 101)
	sc.upgrade(t, "/v1/ws?ticket="+url.QueryEscape(ticket.Ticket), "", 101)
	sc.do(t, specCall{method: "GET", path: "/v1/ws", offSpec: true}, 401)

	// Operations.
	sc.do(t, specCall{method: "GET", path: "/healthz"}, 200)
	metrics := sc.do(t, specCall{method: "GET", path: "/metrics"}, 200)
	if !bytes.Contains(metrics.body, []byte("parley_http_requests_total")) {
		t.Errorf("/metrics lacks parley_http_requests_total:\n%s", clip(metrics.body))
	}

	// Every operation the spec lists has been answered with success.
	for path, item := range sc.doc.Paths.Map() {
		for method, op := range item.Operations() {
			ok := slices.ContainsFunc(sc.answered[op.OperationID], func(s int) bool { return s < 300 })
			if !ok {
				t.Errorf("%s %s (%s) was never answered with success; statuses seen %v", method, path, op.OperationID, sc.answered[op.OperationID])
			}
		}
	}
}

// TestOpenAPICheckerRejects makes sure the checks of specClient catch what
// a careless handler would answer.
func TestOpenAPICheckerRejects(t *testing.T) {
	sc := newSpecClient(t, "http://127.0.0.1:1")
	at := "2026-03-04T05:06:07.891Z"
	msg := func(edit func(map[string]any)) map[string]any {
		m := map[string]any{
			"id": "3", "conversation_id": "c", "seq": 3, "prev_seq": 2, "client_id": "k", "sender_id": "u",
			"body": "hi", "reply_to": nil, "mentions": []string{}, "reactions": map[string]int{},
			"created_at": at, "edited_at": nil, "deleted": false,
		}
		edit(m)
		return map[string]any{"message": m}
	}
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	for _, tc := range []struct {
		name, method, path string
		status             int
		header             http.Header
		body               any
	}{
		{"a sound message", "POST", "/v1/conversations/c/messages", 201, jsonHeader, msg(func(map[string]any) {})},
		{"null mentions", "POST", "/v1/conversations/c/messages", 201, jsonHeader, msg(func(m map[string]any) { m["mentions"] = nil })},
		{"no edited_at", "POST", "/v1/conversations/c/messages", 201, jsonHeader, msg(func(m map[string]any) { delete(m, "edited_at") })},
		{"time not in UTC", "POST", "/v1/conversations/c/messages", 201, jsonHeader, msg(func(m map[string]any) { m["created_at"] = "2026-03-04T07:06:07+02:00" })},
		{"session without expires_at", "POST", "/v1/auth/register", 201, jsonHeader, map[string]any{
			"user": map[string]string{"id": "u", "username": "ann", "display_name": "Ann"}, "access_token": "a", "refresh_token": "r"}},
		{"undocumented status", "GET", "/v1/me", 418, jsonHeader, map[string]any{"error": map[string]string{"code": "invalid", "message": "x"}}},
		{"status only under default", "GET", "/v1/me", 500, jsonHeader, map[string]any{"error": map[string]string{"code": "internal", "message": "internal error"}}},
		{"code does not match status", "GET", "/v1/conversations/c", 404, jsonHeader, map[string]any{"error": map[string]string{"code": "forbidden", "message": "x"}}},
		{"204 with a body", "DELETE", "/v1/conversations/c/messages/3", 204, jsonHeader, map[string]any{"ok": true}},
		{"not JSON", "GET", "/v1/me", 200, http.Header{"Content-Type": {"text/html"}}, map[string]any{"user": map[string]string{"id": "u", "username": "ann", "display_name": "Ann"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := specCall{method: tc.method, path: tc.path}.request(t, sc.base)
			route, params, err := sc.router.FindRoute(req)
			if err != nil {
				t.Fatal(err)
			}
			var body []byte
			if tc.body != nil {
				if body, err = json.Marshal(tc.body); err != nil {
					t.Fatal(err)
				}
			}
			errs := sc.check(req, route, params, specAnswer{status: tc.status, header: tc.header, body: body})
			if sound := tc.name == "a sound message"; sound != (len(errs) == 0) {
				t.Errorf("sound %v, errors %v", sound, errs)
			}
		})
	}
}
