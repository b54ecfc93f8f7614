package acceptance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/edge"
	"github.com/parley-im/parley/internal/testenv"
)

// These tests speak the WebSocket protocol of docs/protocol.md frame by
// frame, on raw sockets, where the exact frames and close codes matter; the
// SDK is used where only the outcome does.

// frameWait bounds every wait for a frame or a close.
const frameWait = 10 * time.Second

// wsURL is the WebSocket endpoint of the edge at base (http://host:port).
func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") + "/v1/ws" }

func bearer(api *client.API) http.Header {
	return http.Header{"Authorization": {"Bearer " + api.Session().AccessToken}}
}

// dialWS attempts an upgrade; a socket it opens is closed with the test.
func dialWS(t testing.TB, u string, h http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: frameWait}
	ws, resp, err := d.Dial(u, h)
	if ws != nil {
		t.Cleanup(func() { ws.Close() })
	}
	return ws, resp, err
}

// rawWS is a socket read frame by frame. Its methods take the test they
// report to, so that subtests may share one socket.
type rawWS struct{ ws *websocket.Conn }

// dialRaw opens a socket as api's user on the edge at base.
func dialRaw(t testing.TB, base string, api *client.API) *rawWS {
	t.Helper()
	ws, resp, err := dialWS(t, wsURL(base), bearer(api))
	if err != nil {
		t.Fatalf("upgrade: %v (%s)", err, statusOf(resp))
	}
	return &rawWS{ws: ws}
}

func statusOf(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	return resp.Status
}

func (c *rawWS) writeRaw(t testing.TB, typ int, b []byte) {
	t.Helper()
	_ = c.ws.SetWriteDeadline(time.Now().Add(frameWait))
	if err := c.ws.WriteMessage(typ, b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func (c *rawWS) write(t testing.TB, f parley.ClientFrame) {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	c.writeRaw(t, websocket.TextMessage, b)
}

// next reads one server frame.
func (c *rawWS) next(t testing.TB) parley.ServerFrame {
	t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(frameWait))
	typ, b, err := c.ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("server sent a message of type %d, want text", typ)
	}
	var f parley.ServerFrame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("server sent %q: %v", b, err)
	}
	return f
}

// until reads frames until one satisfies match, and returns those before it.
func (c *rawWS) until(t testing.TB, match func(parley.ServerFrame) bool) (before []parley.ServerFrame, hit parley.ServerFrame) {
	t.Helper()
	for {
		f := c.next(t)
		if match(f) {
			return before, f
		}
		before = append(before, f)
	}
}

// ping sends a ping frame and returns the frames that arrived before its
// pong: proof that the socket is open and has handled what came before.
func (c *rawWS) ping(t testing.TB, ref string) []parley.ServerFrame {
	t.Helper()
	c.write(t, parley.ClientFrame{Type: parley.FramePing, Ref: ref})
	before, _ := c.until(t, func(f parley.ServerFrame) bool { return f.Type == parley.FramePong && f.Ref == ref })
	return before
}

// resume sends resume and returns the events that precede `resumed`. Any
// other frame fails the test.
func (c *rawWS) resume(t testing.TB, cursor string) (events []parley.ServerFrame, resumed parley.ServerFrame) {
	t.Helper()
	c.write(t, parley.ClientFrame{Type: parley.FrameResume, Ref: "resume", Cursor: cursor})
	for {
		f := c.next(t)
		switch f.Type {
		case parley.FrameEvent:
			events = append(events, f)
		case parley.FrameResumed:
			if f.Cursor == "" {
				t.Fatal("resumed without a cursor")
			}
			return events, f
		default:
			t.Fatalf("while resuming: unexpected frame %+v", f)
		}
	}
}

// send sends a message and returns the message of its ack.
func (c *rawWS) send(t testing.TB, ref, cid, body string) parley.Message {
	t.Helper()
	c.write(t, parley.ClientFrame{Type: parley.FrameSend, Ref: ref, ConversationID: cid, ClientID: client.NewClientID(), Body: body})
	_, f := c.until(t, func(f parley.ServerFrame) bool { return f.Ref == ref })
	if f.Type != parley.FrameAck || f.Message == nil {
		t.Fatalf("send %s answered with %+v", ref, f)
	}
	return *f.Message
}

// nextEvent skips frames other than events of cid.
func (c *rawWS) nextEvent(t testing.TB, cid string) parley.ServerFrame {
	t.Helper()
	_, f := c.until(t, func(f parley.ServerFrame) bool { return f.Type == parley.FrameEvent && f.ConversationID == cid })
	return f
}

// closeCode reads until the server closes the socket and returns the close
// code it sent. Frames read meanwhile are returned too.
func (c *rawWS) closeCode(t testing.TB) (int, []parley.ServerFrame) {
	t.Helper()
	var frames []parley.ServerFrame
	_ = c.ws.SetReadDeadline(time.Now().Add(frameWait))
	for {
		_, b, err := c.ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, frames
		}
		if err != nil {
			t.Fatalf("socket ended without a close frame: %v", err)
		}
		var f parley.ServerFrame
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("server sent %q: %v", b, err)
		}
		frames = append(frames, f)
	}
}

// wantError checks that frames hold exactly one frame, an error with ref and code.
func wantError(t testing.TB, frames []parley.ServerFrame, ref string, code parley.Code) {
	t.Helper()
	// Events of the socket's own earlier sends may trail their acks.
	frames = slices.DeleteFunc(slices.Clone(frames), func(f parley.ServerFrame) bool { return f.Type == parley.FrameEvent })
	if len(frames) != 1 || frames[0].Type != parley.FrameError || frames[0].Error == nil {
		t.Fatalf("got frames %+v, want one error frame", frames)
	}
	f := frames[0]
	if f.Ref != ref || f.Error.Code != code || f.Error.Message == "" {
		t.Fatalf("got error frame ref %q %+v, want ref %q code %s with a message", f.Ref, *f.Error, ref, code)
	}
}

// wantRefused checks that an upgrade was refused with status and an error
// body of code, as API.md's conventions say.
func wantRefused(t testing.TB, resp *http.Response, err error, status int, code parley.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("upgrade succeeded, want %d", status)
	}
	if resp == nil {
		t.Fatalf("upgrade failed without a response: %v", err)
	}
	if resp.StatusCode != status {
		t.Fatalf("upgrade answered %s, want %d", resp.Status, status)
	}
	raw, _ := io.ReadAll(resp.Body) // gorilla keeps the first KiB of it
	var body struct {
		Error parley.ErrorBody `json:"error"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.Error.Code != code {
		t.Fatalf("status %d as it should be, but the body is %q (Content-Type %q), want {\"error\": {\"code\": %q, ...}}",
			status, raw, resp.Header.Get("Content-Type"), code)
	}
}

// asEvents converts event frames for checkChain.
func asEvents(fs []parley.ServerFrame) []client.Event {
	out := make([]client.Event, len(fs))
	for i, f := range fs {
		out[i] = client.Event{Name: f.Event, ConversationID: f.ConversationID, Seq: f.Seq, PrevSeq: f.PrevSeq, Cursor: f.Cursor, Data: f.Data}
	}
	return out
}

func frameMessage(t testing.TB, f parley.ServerFrame) parley.Message {
	t.Helper()
	if f.Type != parley.FrameEvent || f.Event != parley.EventMessageNew {
		t.Fatalf("got %+v, want a message.new event", f)
	}
	m, err := asEvents([]parley.ServerFrame{f})[0].Message()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sendFrame is a send frame's JSON, written by hand so that it can carry
// what json.Marshal would not produce.
func sendFrame(ref, cid, clientID, body string) string {
	return fmt.Sprintf(`{"type":"send","ref":%q,"conversation_id":%q,"client_id":%q,"body":"%s"}`, ref, cid, clientID, body)
}

// Every bad frame gets an error frame and leaves the socket open, except one
// over 64 KiB, which closes it with 1009; nothing sent before or after is
// lost, and nothing bad is stored.
func TestWSBadFramesKeepTheSocketAndLoseNothing(t *testing.T) {
	env := testenv.Start(t)
	base := env.Edges[0].URL
	alice, bob, eve := newUser(t, base), newUser(t, base), newUser(t, base)
	conv, err := alice.CreateDirect(ctx(t), bob.Session().User.ID)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := bob.CreateDirect(ctx(t), eve.Session().User.ID)
	if err != nil {
		t.Fatal(err)
	}

	ws := dialRaw(t, base, alice)
	var want []string
	good := func(ws *rawWS, body string) {
		t.Helper()
		ref := fmt.Sprintf("good%d", len(want))
		m := ws.send(t, ref, conv.ID, body)
		if m.Body != body || m.SenderID != alice.Session().User.ID || m.ConversationID != conv.ID {
			t.Fatalf("ack of %s carries %+v", ref, m)
		}
		want = append(want, body)
	}
	good(ws, "first")
	good(ws, strings.Repeat("b", parley.MaxBodyBytes)) // exactly at the limit
	good(ws, "third")

	// A send frame of exactly 64 KiB: read whole, refused for its body.
	prefix := sendFrame("at64k", conv.ID, "c64k", "")
	at64k := sendFrame("at64k", conv.ID, "c64k", strings.Repeat("x", parley.MaxFrameBytes-len(prefix)))
	if len(at64k) != parley.MaxFrameBytes {
		t.Fatalf("built a %d-byte frame", len(at64k))
	}
	const missing = "aaaaaaaaaaaaaaaaaaaaaaaaaa"
	for _, tc := range []struct {
		name  string
		typ   int
		frame string
		ref   string
		code  parley.Code
	}{
		{"malformed JSON", websocket.TextMessage, `{"type":"send",`, "", parley.CodeInvalid},
		{"not an object", websocket.TextMessage, `[1,2]`, "", parley.CodeInvalid},
		{"wrong field type", websocket.TextMessage, `{"type":"ping","ref":7}`, "", parley.CodeInvalid},
		{"binary message", websocket.BinaryMessage, `{"type":"ping","ref":"bin"}`, "", parley.CodeInvalid},
		{"unknown type", websocket.TextMessage, `{"type":"shout","ref":"u1"}`, "u1", parley.CodeInvalid},
		{"no type", websocket.TextMessage, `{"ref":"u2"}`, "u2", parley.CodeInvalid},
		{"body over 16 KiB", websocket.TextMessage, sendFrame("big", conv.ID, "cbig", strings.Repeat("x", parley.MaxBodyBytes+1)), "big", parley.CodeTooLarge},
		{"frame of exactly 64 KiB", websocket.TextMessage, at64k, "at64k", parley.CodeTooLarge},
		{"empty body", websocket.TextMessage, sendFrame("empty", conv.ID, "cempty", ""), "empty", parley.CodeInvalid},
		{"NUL in body", websocket.TextMessage, sendFrame("nul", conv.ID, "cnul", `a\u0000b`), "nul", parley.CodeInvalid},
		{"no client_id", websocket.TextMessage, sendFrame("nocid", conv.ID, "", "hi"), "nocid", parley.CodeInvalid},
		{"client_id with a space", websocket.TextMessage, sendFrame("space", conv.ID, "a b", "hi"), "space", parley.CodeInvalid},
		{"client_id too long", websocket.TextMessage, sendFrame("long", conv.ID, strings.Repeat("c", parley.MaxClientIDBytes+1), "hi"), "long", parley.CodeInvalid},
		{"unknown conversation", websocket.TextMessage, sendFrame("unknown", missing, "cunknown", "hi"), "unknown", parley.CodeNotFound},
		{"foreign conversation", websocket.TextMessage, sendFrame("foreign", foreign.ID, "cforeign", "hi"), "foreign", parley.CodeNotFound},
		{"edit of a missing message", websocket.TextMessage, fmt.Sprintf(`{"type":"edit","ref":"edit","conversation_id":%q,"message_id":"999999","body":"x"}`, conv.ID), "edit", parley.CodeNotFound},
		{"read in a foreign conversation", websocket.TextMessage, fmt.Sprintf(`{"type":"read","ref":"read","conversation_id":%q,"seq":1}`, foreign.ID), "read", parley.CodeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws.writeRaw(t, tc.typ, []byte(tc.frame))
			wantError(t, ws.ping(t, "after "+tc.name), tc.ref, tc.code)
		})
	}

	// One byte over 64 KiB: the server stops reading and closes with 1009.
	over := sendFrame("over", conv.ID, "cover", strings.Repeat("x", parley.MaxFrameBytes+1-len(prefix)))
	ws.writeRaw(t, websocket.TextMessage, []byte(over))
	if code, frames := ws.closeCode(t); code != websocket.CloseMessageTooBig || len(frames) != 0 {
		t.Fatalf("after a %d-byte frame: close %d after frames %+v, want close %d", len(over), code, frames, websocket.CloseMessageTooBig)
	}

	ws = dialRaw(t, base, alice)
	good(ws, "fourth")
	good(ws, "fifth")

	ms, err := alice.Messages(ctx(t), conv.ID, 0, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(ms))
	for i, m := range ms {
		got[i] = m.Body
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("history (-want +got):\n%s", diff)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].PrevSeq != ms[i-1].Seq {
			t.Fatalf("history: message %d has prev_seq %d, want %d", i, ms[i].PrevSeq, ms[i-1].Seq)
		}
	}
	if fms, err := bob.Messages(ctx(t), foreign.ID, 0, 0, 50); err != nil || len(fms) != 0 {
		t.Fatalf("the foreign conversation holds %d messages (%v)", len(fms), err)
	}
}

// A body that is not UTF-8 is invalid (docs/protocol.md, Errors); it must
// not be stored, repaired or not.
func TestWSNonUTF8BodyIsInvalid(t *testing.T) {
	env := testenv.Start(t)
	base := env.Edges[0].URL
	alice, bob := newUser(t, base), newUser(t, base)
	conv, err := alice.CreateDirect(ctx(t), bob.Session().User.ID)
	if err != nil {
		t.Fatal(err)
	}
	ws := dialRaw(t, base, alice)
	ws.writeRaw(t, websocket.TextMessage, []byte(sendFrame("utf8", conv.ID, "cutf8", "a\xffb")))
	// The answer is an error, or, if the body was accepted, an ack.
	_, f := ws.until(t, func(f parley.ServerFrame) bool { return f.Ref == "utf8" })
	ms, err := alice.Messages(ctx(t), conv.ID, 0, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 0 {
		t.Errorf("stored %q", ms[0].Body)
	}
	wantError(t, []parley.ServerFrame{f}, "utf8", parley.CodeInvalid)
}

// A ping frame gets a pong with its ref, before and after resume.
func TestWSPingPong(t *testing.T) {
	env := testenv.Start(t)
	alice := newUser(t, env.Edges[0].URL)
	ws := dialRaw(t, env.Edges[0].URL, alice)
	if before := ws.ping(t, "p1"); len(before) != 0 {
		t.Fatalf("frames before the pong: %+v", before)
	}
	ws.resume(t, "")
	ws.write(t, parley.ClientFrame{Type: parley.FramePing})
	if f := ws.next(t); f.Type != parley.FramePong || f.Ref != "" {
		t.Fatalf("ping without ref answered with %+v", f)
	}
	if before := ws.ping(t, "p2"); len(before) != 0 {
		t.Fatalf("frames before the pong: %+v", before)
	}
}

// An upgrade without valid credentials is refused with 401 and no upgrade.
func TestWSUpgradeRefusedWithoutValidCredentials(t *testing.T) {
	env := testenv.Start(t)
	base := env.Edges[0].URL
	alice := newUser(t, base)
	ticket, err := alice.WSTicket(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	access := alice.Session().AccessToken
	forged := access[:len(access)-2] + "AA"
	if forged == access {
		forged = access[:len(access)-2] + "BB"
	}
	for _, tc := range []struct {
		name   string
		query  string
		header string
	}{
		{"nothing", "", ""},
		{"empty bearer", "", "Bearer "},
		{"other scheme", "", "Basic " + access},
		{"garbage token", "", "Bearer not-a-token"},
		{"forged signature", "", "Bearer " + forged},
		{"refresh token as access token", "", "Bearer " + alice.Session().RefreshToken},
		{"ticket as bearer token", "", "Bearer " + ticket},
		{"garbage ticket", "?ticket=garbage", ""},
		{"access token as ticket", "?ticket=" + url.QueryEscape(access), ""},
		{"bad header beats good ticket", "?ticket=" + url.QueryEscape(ticket), "Bearer garbage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Authorization", tc.header)
			}
			_, resp, err := dialWS(t, wsURL(base)+tc.query, h)
			wantRefused(t, resp, err, http.StatusUnauthorized, parley.CodeUnauthorized)
		})
	}
}

// A token that was good for an upgrade is refused once it expires.
func TestWSUpgradeRefusedWithExpiredToken(t *testing.T) {
	env := testenv.Start(t, testenv.WithEdgeConfig(func(c *edge.Config) { c.AccessTTL = 2 * time.Second }))
	base := env.Edges[0].URL
	alice := newUser(t, base) // a token valid for at least one more second
	h := bearer(alice)
	ws, resp, err := dialWS(t, wsURL(base), h)
	if err != nil {
		t.Fatalf("fresh token refused: %v (%s)", err, statusOf(resp))
	}
	ws.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ws, resp, err = dialWS(t, wsURL(base), h)
		if err != nil {
			break
		}
		ws.Close()
		if time.Now().After(deadline) {
			t.Fatal("a token issued with a 2s lifetime still upgrades after 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantRefused(t, resp, err, http.StatusUnauthorized, parley.CodeUnauthorized)
	// The SDK's answer to that: refresh and try again, which works.
	if err := alice.Refresh(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, resp, err := dialWS(t, wsURL(base), bearer(alice)); err != nil {
		t.Fatalf("refreshed token refused: %v (%s)", err, statusOf(resp))
	}
}

// A socket outlives its access token only until its next frame: that frame
// is answered unauthorized and the socket closes with 1008.
func TestWSFrameAfterTokenExpiryCloses(t *testing.T) {
	env := testenv.Start(t, testenv.WithEdgeConfig(func(c *edge.Config) { c.AccessTTL = 5 * time.Second }))
	base := env.Edges[0].URL
	alice, bob := newUser(t, base), newUser(t, base)
	conv, err := alice.CreateDirect(ctx(t), bob.Session().User.ID)
	if err != nil {
		t.Fatal(err)
	}
	ws := dialRaw(t, base, alice)
	ws.resume(t, "")
	// While the token is valid, frames are served.
	if m := ws.send(t, "s", conv.ID, "while valid"); m.Body != "while valid" {
		t.Fatalf("ack carries %q", m.Body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ws.write(t, parley.ClientFrame{Type: parley.FrameRead, Ref: "r", ConversationID: conv.ID, Seq: 1})
		_, f := ws.until(t, func(f parley.ServerFrame) bool { return f.Ref == "r" })
		if f.Type == parley.FrameError {
			if f.Error.Code != parley.CodeUnauthorized {
				t.Fatalf("after expiry: error %+v, want unauthorized", *f.Error)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("frames are still served 20s after a 5s token was issued")
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	if code, _ := ws.closeCode(t); code != websocket.ClosePolicyViolation {
		t.Fatalf("closed with %d, want %d", code, websocket.ClosePolicyViolation)
	}
}

// A ticket upgrades once, as its user; a second use is refused.
func TestWSTicketIsSingleUse(t *testing.T) {
	env := testenv.Start(t)
	base := env.Edges[0].URL
	alice, bob := newUser(t, base), newUser(t, base)
	conv, err := alice.CreateDirect(ctx(t), bob.Session().User.ID)
	if err != nil {
		t.Fatal(err)
	}
	ticket, err := alice.WSTicket(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	u := wsURL(base) + "?ticket=" + url.QueryEscape(ticket)
	conn, resp, err := dialWS(t, u, nil)
	if err != nil {
		t.Fatalf("ticket refused: %v (%s)", err, statusOf(resp))
	}
	ws := &rawWS{ws: conn}
	ws.resume(t, "")
	if m := ws.send(t, "t1", conv.ID, "by ticket"); m.SenderID != alice.Session().User.ID {
		t.Fatalf("ticket socket sends as %s, want alice %s", m.SenderID, alice.Session().User.ID)
	}
	_, resp, err = dialWS(t, u, nil)
	wantRefused(t, resp, err, http.StatusUnauthorized, parley.CodeUnauthorized)
	// The first socket is unaffected. (Its own message.new may come
	// after the ack: both follow the store, on different paths.)
	for _, f := range ws.ping(t, "still") {
		if f.Type != parley.FrameEvent {
			t.Fatalf("unexpected frame before the pong: %+v", f)
		}
	}
}

// Origin: none is allowed; with no AllowedOrigins only the edge's own host;
// otherwise only the listed ones.
func TestWSOrigin(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed []string
		origin  func(e *testenv.Edge) string
		ok      bool
	}{
		{"default, no Origin", nil, func(*testenv.Edge) string { return "" }, true},
		{"default, own host", nil, func(e *testenv.Edge) string { return "http://" + e.Addr }, true},
		{"default, foreign", nil, func(*testenv.Edge) string { return "http://evil.example" }, false},
		{"default, own host on another port", nil, func(*testenv.Edge) string { return "http://127.0.0.1:1" }, false},
		{"listed", []string{"https://chat.example"}, func(*testenv.Edge) string { return "https://chat.example" }, true},
		{"listed, other origin", []string{"https://chat.example"}, func(*testenv.Edge) string { return "https://evil.example" }, false},
		{"listed, own host no longer implied", []string{"https://chat.example"}, func(e *testenv.Edge) string { return "http://" + e.Addr }, false},
		{"listed, no Origin", []string{"https://chat.example"}, func(*testenv.Edge) string { return "" }, true},
		{"star", []string{"*"}, func(*testenv.Edge) string { return "https://anything.example" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := testenv.Start(t, testenv.WithWorkers(0), testenv.WithEdgeConfig(func(c *edge.Config) { c.AllowedOrigins = tc.allowed }))
			e := env.Edges[0]
			alice := newUser(t, e.URL)
			h := bearer(alice)
			if o := tc.origin(e); o != "" {
				h.Set("Origin", o)
			}
			ws, resp, err := dialWS(t, wsURL(e.URL), h)
			if !tc.ok {
				wantRefused(t, resp, err, http.StatusForbidden, parley.CodeForbidden)
				return
			}
			if err != nil {
				t.Fatalf("upgrade refused: %v (%s)", err, statusOf(resp))
			}
			if before := (&rawWS{ws: ws}).ping(t, "p"); len(before) != 0 {
				t.Fatalf("frames before the pong: %+v", before)
			}
		})
	}
}

// resume without a cursor answers at once; a second resume, and a cursor
// the server cannot read, are invalid and leave the socket open.
func TestWSResumeErrors(t *testing.T) {
	env := testenv.Start(t)
	base := env.Edges[0].URL
	alice, bob := newUser(t, base), newUser(t, base)
	conv, err := alice.CreateDirect(ctx(t), bob.Session().User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SendMessage(ctx(t), conv.ID, "", "old news", ""); err != nil {
		t.Fatal(err)
	}

	ws := dialRaw(t, base, alice)
	if evs, _ := ws.resume(t, ""); len(evs) != 0 {
		t.Fatalf("resume without cursor replayed %d events", len(evs))
	}
	ws.write(t, parley.ClientFrame{Type: parley.FrameResume, Ref: "again"})
	wantError(t, ws.ping(t, "p"), "again", parley.CodeInvalid)

	var garbage []*rawWS
	for _, tc := range []struct{ name, cursor string }{
		{"not base64", "!!!"},
		{"unknown version", "Mi4xLjI"}, // "2.1.2"
		{"not numbers", "MS54Lnk"},     // "1.x.y"
		{"too long", strings.Repeat("M", 9<<10)},
	} {
		g := dialRaw(t, base, alice) // lives as long as the test, not the subtest
		t.Run(tc.name, func(t *testing.T) {
			g.write(t, parley.ClientFrame{Type: parley.FrameResume, Ref: "bad", Cursor: tc.cursor})
			wantError(t, g.ping(t, "p"), "bad", parley.CodeInvalid)
			garbage = append(garbage, g)
		})
	}
	if t.Failed() {
		return
	}
	// A new message reaches the resumed socket and none of the others.
	if _, err := bob.SendMessage(ctx(t), conv.ID, "", "news", ""); err != nil {
		t.Fatal(err)
	}
	if m := frameMessage(t, ws.nextEvent(t, conv.ID)); m.Body != "news" {
		t.Fatalf("resumed socket got %q", m.Body)
	}
	for i, g := range garbage {
		if before := g.ping(t, "q"); len(before) != 0 {
			t.Fatalf("socket %d with an unreadable cursor received %+v", i, before)
		}
	}
}

// After resume with the last cursor seen, a socket gets exactly the events
// missed while disconnected, in order, chained, then resumed, then live.
func TestWSResumeReplaysWhatWasMissed(t *testing.T) {
	env := testenv.Start(t)
	base := env.Edges[0].URL
	alice, bob := newUser(t, base), newUser(t, base)
	conv, err := alice.CreateDirect(ctx(t), bob.Session().User.ID)
	if err != nil {
		t.Fatal(err)
	}
	first := dialRaw(t, base, bob)
	first.resume(t, "")
	if _, err := alice.SendMessage(ctx(t), conv.ID, "", "seen", ""); err != nil {
		t.Fatal(err)
	}
	seen := first.nextEvent(t, conv.ID)
	if m := frameMessage(t, seen); m.Body != "seen" || seen.Cursor == "" {
		t.Fatalf("first event %+v", seen)
	}
	first.ws.Close()

	const n = 50
	for i := range n {
		if _, err := alice.SendMessage(ctx(t), conv.ID, "", fmt.Sprintf("missed %d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	again := dialRaw(t, base, bob)
	evs, _ := again.resume(t, seen.Cursor)
	if len(evs) != n {
		t.Fatalf("resume replayed %d events, want %d", len(evs), n)
	}
	for i, f := range evs {
		if f.ConversationID != conv.ID || f.Cursor == "" {
			t.Fatalf("replayed event %d: %+v", i, f)
		}
		if m := frameMessage(t, f); m.Body != fmt.Sprintf("missed %d", i) {
			t.Fatalf("replayed event %d is %q", i, m.Body)
		}
	}
	checkChain(t, "bob", asEvents(append([]parley.ServerFrame{seen}, evs...)))

	if _, err := alice.SendMessage(ctx(t), conv.ID, "", "live", ""); err != nil {
		t.Fatal(err)
	}
	live := again.nextEvent(t, conv.ID)
	if m := frameMessage(t, live); m.Body != "live" || live.PrevSeq != evs[n-1].Seq {
		t.Fatalf("first live event after the backlog: %q prev_seq %d, want \"live\" after %d", m.Body, live.PrevSeq, evs[n-1].Seq)
	}
}

// A user added to a group while connected follows it from member.added on,
// without reconnecting.
func TestWSMemberAddedWhileConnected(t *testing.T) {
	env := testenv.Start(t)
	base := env.Edges[0].URL
	alice, bob, carol := newUser(t, base), newUser(t, base), newUser(t, base)
	conv, err := alice.CreateGroup(ctx(t), "late", []string{bob.Session().User.ID}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendMessage(ctx(t), conv.ID, "", "before carol", ""); err != nil {
		t.Fatal(err)
	}
	cc := connect(t, carol, client.ConnOptions{})
	carolID := carol.Session().User.ID
	if err := alice.AddMembers(ctx(t), conv.ID, []string{carolID}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendMessage(ctx(t), conv.ID, "", "welcome", ""); err != nil {
		t.Fatal(err)
	}
	col := &collector{t: t}
	col.until(cc, conv.ID, 10*time.Second, countMessages(1))
	if len(col.events) != 2 || col.events[0].Name != parley.EventMemberAdded {
		t.Fatalf("carol got %d events, first %s; want member.added then the message", len(col.events), col.events[0].Name)
	}
	var added struct {
		Members []parley.Member `json:"members"`
		AddedBy string          `json:"added_by"`
	}
	if err := col.events[0].Decode(&added); err != nil {
		t.Fatal(err)
	}
	if len(added.Members) != 1 || added.Members[0].User.ID != carolID || added.AddedBy != alice.Session().User.ID {
		t.Fatalf("member.added data %+v", added)
	}
	if m, _ := col.events[1].Message(); m.Body != "welcome" {
		t.Fatalf("carol's message is %q, want \"welcome\"", m.Body)
	}
	checkChain(t, "carol", col.events)
	if st := cc.Stats(); st.Connects != 1 || st.Gaps != 0 {
		t.Fatalf("carol's stats %+v: want one connect and no gap", st)
	}
}

// A removed member gets member.removed, then nothing more of the
// conversation, and can no longer send to it.
func TestWSRemovedMemberStopsReceiving(t *testing.T) {
	env := testenv.Start(t)
	base := env.Edges[0].URL
	alice, bob, carol := newUser(t, base), newUser(t, base), newUser(t, base)
	carolID := carol.Session().User.ID
	conv, err := alice.CreateGroup(ctx(t), "shrinking", []string{bob.Session().User.ID, carolID}, false)
	if err != nil {
		t.Fatal(err)
	}
	wb, wc := dialRaw(t, base, bob), dialRaw(t, base, carol)
	wb.resume(t, "")
	wc.resume(t, "")
	if _, err := alice.SendMessage(ctx(t), conv.ID, "", "hello both", ""); err != nil {
		t.Fatal(err)
	}
	if m := frameMessage(t, wc.nextEvent(t, conv.ID)); m.Body != "hello both" {
		t.Fatalf("carol got %q", m.Body)
	}
	if err := alice.RemoveMember(ctx(t), conv.ID, carolID); err != nil {
		t.Fatal(err)
	}
	removed := wc.nextEvent(t, conv.ID)
	var data struct {
		UserID    string `json:"user_id"`
		RemovedBy string `json:"removed_by"`
	}
	if err := json.Unmarshal(removed.Data, &data); err != nil || removed.Event != parley.EventMemberRemoved || data.UserID != carolID {
		t.Fatalf("carol's next event %+v (%v), want her member.removed", removed, err)
	}
	if _, err := alice.SendMessage(ctx(t), conv.ID, "", "just bob", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Rename(ctx(t), conv.ID, "renamed"); err != nil {
		t.Fatal(err)
	}
	// Bob sees all three; by then the edge has dispatched them to carol too.
	for _, want := range []parley.EventKind{parley.EventMemberRemoved, parley.EventMessageNew, parley.EventConversationUpdated} {
		wb.until(t, func(f parley.ServerFrame) bool {
			return f.Type == parley.FrameEvent && f.ConversationID == conv.ID && f.Event == want
		})
	}
	if before := wc.ping(t, "p"); len(before) != 0 {
		t.Fatalf("carol received after her removal: %+v", before)
	}
	wc.write(t, parley.ClientFrame{Type: parley.FrameSend, Ref: "s", ConversationID: conv.ID, ClientID: "after-removal", Body: "still here?"})
	wantError(t, wc.ping(t, "p2"), "s", parley.CodeNotFound)
}

// A graceful stop closes every socket with 1001 going away.
func TestWSGracefulStopSaysGoingAway(t *testing.T) {
	env := testenv.Start(t)
	base := env.Edges[0].URL
	alice, bob := newUser(t, base), newUser(t, base)
	resumed, fresh := dialRaw(t, base, alice), dialRaw(t, base, bob)
	resumed.resume(t, "")
	fresh.ping(t, "p") // upgraded and served, not resumed

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		env.Edges[0].Stop()
	}()
	for name, ws := range map[string]*rawWS{"resumed": resumed, "not resumed": fresh} {
		if code, _ := ws.closeCode(t); code != websocket.CloseGoingAway {
			t.Errorf("%s socket closed with %d, want %d", name, code, websocket.CloseGoingAway)
		}
	}
	select {
	case <-stopped:
	case <-time.After(frameWait):
		t.Fatal("Stop did not return")
	}
	if _, resp, err := dialWS(t, wsURL(base), bearer(alice)); err == nil {
		t.Fatalf("upgrade after Stop succeeded (%s)", statusOf(resp))
	}
}
