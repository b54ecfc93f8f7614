package acceptance

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/edge"
	"github.com/parley-im/parley/internal/testenv"
)

// The behaviour of the REST API as its users see it. Where the status of an
// answer matters, the calls go through specClient (openapi_test.go), so
// they are checked against the spec as well.

// wantCode fails unless err carries the error code want ("" for success).
func wantCode(tb testing.TB, what string, err error, want parley.Code) {
	tb.Helper()
	if got := parley.ErrorCode(err); got != want {
		tb.Errorf("%s: error %v (code %q), want code %q", what, err, got, want)
	}
}

// eventually polls cond until it returns nil, and fails the test with its
// last error if it still does not after d.
func eventually(tb testing.TB, d time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(d)
	delay := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(delay) // polling for a condition, not waiting for it
		delay = min(2*delay, 100*time.Millisecond)
	}
}

func uid(api *client.API) string { return api.Session().User.ID }

// history returns every message of a conversation as api sees it.
func history(tb testing.TB, api *client.API, cid string) []parley.Message {
	tb.Helper()
	ms, err := api.Messages(ctx(tb), cid, 0, 0, 200)
	if err != nil {
		tb.Fatalf("messages of %s: %v", cid, err)
	}
	return ms
}

func findMessage(ms []parley.Message, id string) (parley.Message, bool) {
	i := slices.IndexFunc(ms, func(m parley.Message) bool { return m.ID == id })
	if i < 0 {
		return parley.Message{}, false
	}
	return ms[i], true
}

func TestRESTClientIDIdempotency(t *testing.T) {
	env := testenv.Start(t)
	alice := newUser(t, env.Edges[0].URL)
	bob := newUser(t, env.Edges[0].URL)
	conv, err := alice.CreateDirect(ctx(t), uid(bob))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		first, again string // bodies
		between      bool   // another message is sent between the two
	}{
		{name: "retry as is", first: "hello", again: "hello"},
		{name: "retry with another body", first: "original", again: "changed my mind"},
		{name: "retry after another message", first: "one", again: "one", between: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := client.NewClientID()
			first, err := alice.SendMessage(ctx(t), conv.ID, id, tc.first, "")
			if err != nil {
				t.Fatal(err)
			}
			if tc.between {
				if _, err := alice.SendMessage(ctx(t), conv.ID, "", "in between", ""); err != nil {
					t.Fatal(err)
				}
			}
			again, err := alice.SendMessage(ctx(t), conv.ID, id, tc.again, "")
			if err != nil {
				t.Fatal(err)
			}
			type key struct {
				ID, ClientID, Body string
				Seq, PrevSeq       uint64
			}
			keyOf := func(m parley.Message) key { return key{m.ID, m.ClientID, m.Body, m.Seq, m.PrevSeq} }
			if diff := cmp.Diff(keyOf(first), keyOf(again)); diff != "" {
				t.Errorf("the same client_id again answered another message (-first +again):\n%s", diff)
			}
			var stored []parley.Message
			for _, m := range history(t, alice, conv.ID) {
				if m.ClientID == id {
					stored = append(stored, m)
				}
			}
			if len(stored) != 1 || keyOf(stored[0]) != keyOf(first) {
				t.Errorf("history holds %+v for client_id %s, want once %+v", stored, id, keyOf(first))
			}
		})
	}
}

// The message a send answers is the message history holds, to the last
// field: a client may cache the one and later meet the other.
func TestRESTMessageAnsweredAsStored(t *testing.T) {
	env := testenv.Start(t)
	alice := newUser(t, env.Edges[0].URL)
	bob := newUser(t, env.Edges[0].URL)
	conv, err := alice.CreateDirect(ctx(t), uid(bob))
	if err != nil {
		t.Fatal(err)
	}
	sent, err := alice.SendMessage(ctx(t), conv.ID, "", "as stored", "")
	if err != nil {
		t.Fatal(err)
	}
	stored, ok := findMessage(history(t, bob, conv.ID), sent.ID)
	if !ok {
		t.Fatalf("message %s not in history", sent.ID)
	}
	if diff := cmp.Diff(stored, sent); diff != "" {
		t.Errorf("POST answered another message than history holds (-history +answer):\n%s", diff)
	}
}

func TestRESTEditAndDelete(t *testing.T) {
	env := testenv.Start(t)
	base := env.Edges[0].URL
	alice, bob, carol, dave := newUser(t, base), newUser(t, base), newUser(t, base), newUser(t, base)
	group, err := alice.CreateGroup(ctx(t), "edits", []string{uid(bob), uid(carol)}, false)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := alice.CreateDirect(ctx(t), uid(bob))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("edit", func(t *testing.T) {
		m, err := bob.SendMessage(ctx(t), group.ID, "", "first take", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name   string
			editor *client.API
			want   parley.Code
		}{
			{"the group owner", alice, parley.CodeForbidden},
			{"another member", carol, parley.CodeForbidden},
			{"an outsider", dave, parley.CodeNotFound},
			{"the sender", bob, ""},
		} {
			_, err := tc.editor.EditMessage(ctx(t), group.ID, m.ID, "edited by "+tc.name)
			wantCode(t, tc.name+" edits", err, tc.want)
		}
		edited, err := bob.EditMessage(ctx(t), group.ID, m.ID, "second take")
		if err != nil {
			t.Fatal(err)
		}
		if edited.ID != m.ID || edited.Seq != m.Seq || edited.Body != "second take" || edited.EditedAt == nil {
			t.Errorf("edited message: %+v", edited)
		}
		if got, _ := findMessage(history(t, carol, group.ID), m.ID); got.Body != "second take" || got.EditedAt == nil {
			t.Errorf("carol's history shows %+v", got)
		}
		versions, err := carol.MessageHistory(ctx(t), group.ID, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		var bodies []string
		for i, v := range versions {
			bodies = append(bodies, v.Body)
			if i > 0 && (v.Seq <= versions[i-1].Seq || v.EditedAt.Before(versions[i-1].EditedAt)) {
				t.Errorf("version %d (%+v) is not after version %d (%+v)", i, v, i-1, versions[i-1])
			}
		}
		want := []string{"first take", "edited by the sender", "second take"}
		if diff := cmp.Diff(want, bodies); diff != "" {
			t.Errorf("versions, oldest first (-want +got):\n%s", diff)
		}
		if len(versions) > 0 && versions[0].Seq != m.Seq {
			t.Errorf("the original version has seq %d, want the message's %d", versions[0].Seq, m.Seq)
		}
		if n := len(versions); n > 0 && !versions[n-1].EditedAt.Equal(*edited.EditedAt) {
			t.Errorf("last version edited at %v, the message says %v", versions[n-1].EditedAt, *edited.EditedAt)
		}
	})

	t.Run("delete", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			conv    string
			deleter *client.API
			want    parley.Code
		}{
			{"another member of the group", group.ID, carol, parley.CodeForbidden},
			{"an outsider", group.ID, dave, parley.CodeNotFound},
			{"the other side of a direct conversation", direct.ID, alice, parley.CodeForbidden},
			{"the sender", group.ID, bob, ""},
			{"the sender in a direct conversation", direct.ID, bob, ""},
			{"the group owner", group.ID, alice, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				m, err := bob.SendMessage(ctx(t), tc.conv, "", "delete me? "+tc.name, "")
				if err != nil {
					t.Fatal(err)
				}
				after, err := bob.SendMessage(ctx(t), tc.conv, "", "a neighbour", "")
				if err != nil {
					t.Fatal(err)
				}
				err = tc.deleter.DeleteMessage(ctx(t), tc.conv, m.ID)
				wantCode(t, "delete", err, tc.want)
				hist := history(t, bob, tc.conv)
				got, ok := findMessage(hist, m.ID)
				if !ok {
					t.Fatalf("message %s left history: %+v", m.ID, hist)
				}
				if n, ok := findMessage(hist, after.ID); !ok || n.Body != "a neighbour" || n.Deleted {
					t.Errorf("the next message became %+v", n)
				}
				if tc.want != "" {
					if got.Deleted || got.Body != m.Body {
						t.Errorf("refused delete changed the message: %+v", got)
					}
					return
				}
				if !got.Deleted || got.Body != "" || got.Seq != m.Seq {
					t.Errorf("deleted message in history: %+v, want deleted, empty, seq %d", got, m.Seq)
				}
				versions, err := bob.MessageHistory(ctx(t), tc.conv, m.ID)
				if err != nil || len(versions) != 0 {
					t.Errorf("versions of a deleted message: %+v, %v", versions, err)
				}
				_, err = bob.EditMessage(ctx(t), tc.conv, m.ID, "back from the dead")
				wantCode(t, "edit after delete", err, parley.CodeNotFound)
			})
		}
	})
}

func TestRESTReplyTo(t *testing.T) {
	env := testenv.Start(t)
	alice := newUser(t, env.Edges[0].URL)
	bob := newUser(t, env.Edges[0].URL)
	conv, err := alice.CreateDirect(ctx(t), uid(bob))
	if err != nil {
		t.Fatal(err)
	}
	question, err := alice.SendMessage(ctx(t), conv.ID, "", "tea?", "")
	if err != nil {
		t.Fatal(err)
	}
	reply, err := bob.SendMessage(ctx(t), conv.ID, "", "yes please", question.ID)
	if err != nil {
		t.Fatal(err)
	}
	if question.ReplyTo != nil {
		t.Errorf("the question replies to %q", *question.ReplyTo)
	}
	if reply.ReplyTo == nil || *reply.ReplyTo != question.ID {
		t.Errorf("answered reply_to %v, want %s", reply.ReplyTo, question.ID)
	}
	hist := history(t, alice, conv.ID)
	if got, _ := findMessage(hist, reply.ID); got.ReplyTo == nil || *got.ReplyTo != question.ID {
		t.Errorf("stored reply_to %v, want %s", got.ReplyTo, question.ID)
	}
	if got, _ := findMessage(hist, question.ID); got.ReplyTo != nil {
		t.Errorf("stored question replies to %q", *got.ReplyTo)
	}
	_, err = bob.SendMessage(ctx(t), conv.ID, "", "to what?", "not-an-id")
	wantCode(t, "reply_to that is no message id", err, parley.CodeInvalid)
}

func TestRESTConversationListActivityAndUnread(t *testing.T) {
	env := testenv.Start(t)
	base := env.Edges[0].URL
	alice, bob := newUser(t, base), newUser(t, base)
	direct, err := alice.CreateDirect(ctx(t), uid(bob))
	if err != nil {
		t.Fatal(err)
	}
	group, err := alice.CreateGroup(ctx(t), "busy", []string{uid(bob)}, false)
	if err != nil {
		t.Fatal(err)
	}
	quiet, err := alice.CreateGroup(ctx(t), "quiet", []string{uid(bob)}, false)
	if err != nil {
		t.Fatal(err)
	}
	send := func(cid, body string) parley.Message {
		t.Helper()
		m, err := alice.SendMessage(ctx(t), cid, "", body, "")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	type row struct {
		ID, Last string // last message's body
		Unread   int
	}
	// listed polls until who's list is want: the list follows the persist
	// workers, which run behind the answers of sends and reads.
	listed := func(who *client.API, want []row) {
		t.Helper()
		eventually(t, 10*time.Second, func() error {
			convs, err := who.Conversations(ctx(t))
			if err != nil {
				return err
			}
			var got []row
			for _, c := range convs {
				r := row{ID: c.ID, Unread: c.UnreadCount}
				if c.LastMessage != nil {
					r.Last = c.LastMessage.Body
				}
				got = append(got, r)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				return fmt.Errorf("conversations (-want +got):\n%s", diff)
			}
			return nil
		})
	}

	listed(bob, []row{{quiet.ID, "", 0}, {group.ID, "", 0}, {direct.ID, "", 0}})
	d1 := send(direct.ID, "d1")
	send(group.ID, "g1")
	listed(bob, []row{{group.ID, "g1", 1}, {direct.ID, "d1", 1}, {quiet.ID, "", 0}})
	listed(alice, []row{{group.ID, "g1", 0}, {direct.ID, "d1", 0}, {quiet.ID, "", 0}})

	send(direct.ID, "d2")
	d3 := send(direct.ID, "d3")
	listed(bob, []row{{direct.ID, "d3", 3}, {group.ID, "g1", 1}, {quiet.ID, "", 0}})
	convs, err := bob.Conversations(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if lm := convs[0].LastMessage; lm == nil || lm.ID != d3.ID || lm.SenderID != uid(alice) || lm.Seq != d3.Seq {
		t.Errorf("last_message of the direct conversation: %+v, want %s by alice", lm, d3.ID)
	}

	if err := bob.MarkRead(ctx(t), direct.ID, d1.Seq); err != nil {
		t.Fatal(err)
	}
	listed(bob, []row{{direct.ID, "d3", 2}, {group.ID, "g1", 1}, {quiet.ID, "", 0}})
	if err := bob.MarkRead(ctx(t), direct.ID, d3.Seq); err != nil {
		t.Fatal(err)
	}
	listed(bob, []row{{direct.ID, "d3", 0}, {group.ID, "g1", 1}, {quiet.ID, "", 0}})
}

func TestRESTGroupRoles(t *testing.T) {
	env := testenv.Start(t)
	base := env.Edges[0].URL
	owner, bob, carol, dave, erin := newUser(t, base), newUser(t, base), newUser(t, base), newUser(t, base), newUser(t, base)
	g, err := owner.CreateGroup(ctx(t), "roles", []string{uid(bob), uid(carol), uid(dave)}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name string
		do   func() error
		want parley.Code
	}{
		{"a member renames", func() error { _, err := bob.Rename(ctx(t), g.ID, "bob's"); return err }, parley.CodeForbidden},
		{"a member removes another", func() error { return bob.RemoveMember(ctx(t), g.ID, uid(carol)) }, parley.CodeForbidden},
		{"a member removes the owner", func() error { return bob.RemoveMember(ctx(t), g.ID, uid(owner)) }, parley.CodeForbidden},
		{"a member adds someone", func() error { return bob.AddMembers(ctx(t), g.ID, []string{uid(erin)}) }, parley.CodeForbidden},
		{"an outsider renames", func() error { _, err := erin.Rename(ctx(t), g.ID, "erin's"); return err }, parley.CodeNotFound},
		{"the owner renames", func() error { _, err := owner.Rename(ctx(t), g.ID, "renamed"); return err }, ""},
		{"the owner removes a non-member", func() error { return owner.RemoveMember(ctx(t), g.ID, uid(erin)) }, parley.CodeNotFound},
		{"a member leaves", func() error { return bob.Leave(ctx(t), g.ID) }, ""},
		{"who left reads it", func() error { _, err := bob.Conversation(ctx(t), g.ID); return err }, parley.CodeNotFound},
		{"who left reads its messages", func() error { _, err := bob.Messages(ctx(t), g.ID, 0, 0, 0); return err }, parley.CodeNotFound},
		{"who left sends", func() error { _, err := bob.SendMessage(ctx(t), g.ID, "", "still here?", ""); return err }, parley.CodeNotFound},
		{"who left leaves again", func() error { return bob.Leave(ctx(t), g.ID) }, parley.CodeNotFound},
		{"the owner removes a member", func() error { return owner.RemoveMember(ctx(t), g.ID, uid(carol)) }, ""},
		{"the removed member reads it", func() error { _, err := carol.Conversation(ctx(t), g.ID); return err }, parley.CodeNotFound},
		{"the removed member lists members", func() error { _, err := carol.Members(ctx(t), g.ID, ""); return err }, parley.CodeNotFound},
		{"the removed member marks read", func() error { return carol.MarkRead(ctx(t), g.ID, 1) }, parley.CodeNotFound},
	} {
		wantCode(t, step.name, step.do(), step.want)
	}

	seen, err := dave.Conversation(ctx(t), g.ID)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]parley.Role{}
	for _, m := range seen.Members {
		roles[m.User.ID] = m.Role
	}
	want := map[string]parley.Role{uid(owner): parley.RoleOwner, uid(dave): parley.RoleMember}
	if diff := cmp.Diff(want, roles); diff != "" || seen.Title != "renamed" {
		t.Errorf("dave sees title %q and members (-want +got):\n%s", seen.Title, diff)
	}
	for name, api := range map[string]*client.API{"bob": bob, "carol": carol} {
		convs, err := api.Conversations(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(convs, func(c parley.Conversation) bool { return c.ID == g.ID }) {
			t.Errorf("%s still lists the group after leaving it", name)
		}
	}
}

func TestRESTDirectConversationIsOnePerPair(t *testing.T) {
	env := testenv.Start(t)
	sc := newSpecClient(t, env.Edges[0].URL)
	alice := sc.register(t, uniqueName("a"))
	bob := sc.register(t, uniqueName("b"))
	create := func(who specSession, with ...string) specCall {
		return specCall{method: "POST", path: "/v1/conversations", token: who.AccessToken,
			body: map[string]any{"type": "direct", "members": with}}
	}
	var firstID string
	for _, tc := range []struct {
		name   string
		who    specSession
		status int
	}{
		{"alice starts it", alice, 201},
		{"bob starts it from his side", bob, 200},
		{"alice starts it again", alice, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := bob.User.ID
			if tc.who.User.ID == bob.User.ID {
				other = alice.User.ID
			}
			var out struct{ Conversation parley.Conversation }
			sc.do(t, create(tc.who, other), tc.status).decode(t, &out)
			c := out.Conversation
			if firstID == "" {
				firstID = c.ID
			}
			if c.ID != firstID || c.Type != parley.Direct || c.Title != "" || len(c.Members) != 2 {
				t.Errorf("got %+v, want the direct conversation %s without a title", c, firstID)
			}
			for _, m := range c.Members {
				if m.Role != parley.RoleMember {
					t.Errorf("%s has role %s in a direct conversation", m.User.Username, m.Role)
				}
			}
		})
	}
	for _, tc := range []struct {
		name string
		with []string
	}{
		{"with yourself", []string{alice.User.ID}},
		{"with nobody", []string{}},
		{"with two people", []string{bob.User.ID, uniqueName("x")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := sc.do(t, create(alice, tc.with...), 400)
			if code := a.errorCode(t); code != parley.CodeInvalid {
				t.Errorf("code %q, want invalid", code)
			}
		})
	}
}

func TestRESTE2EBodiesUntouched(t *testing.T) {
	env := testenv.Start(t)
	base := env.Edges[0].URL
	alice, bob := newUser(t, base), newUser(t, base)
	g, err := alice.CreateGroup(ctx(t), "sealed", []string{uid(bob)}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !g.E2E {
		t.Fatalf("created %+v, want e2e", g)
	}
	noise := make([]byte, 700)
	rand.Read(noise)
	bodies := []struct{ name, body string }{
		{"base64 ciphertext", base64.StdEncoding.EncodeToString(noise)},
		{"looks like a mention", "hey @" + bob.Session().User.Username + " and @everyone"},
		{"spaces kept", "  \tpadded both sides \n\n"},
		{"unicode unnormalized", "cafe\u0301 caf\u00e9 \u200b \U0001F600"},
		{"markup", `<script>alert("&amp;")</script>`},
	}
	var sent []parley.Message
	for _, b := range bodies {
		m, err := alice.SendMessage(ctx(t), g.ID, "", b.body, "")
		if err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
		if m.Body != b.body {
			t.Errorf("%s: answered body %q, sent %q", b.name, m.Body, b.body)
		}
		sent = append(sent, m)
	}
	hist := history(t, bob, g.ID)
	for i, b := range bodies {
		got, ok := findMessage(hist, sent[i].ID)
		if !ok {
			t.Errorf("%s: not in history", b.name)
			continue
		}
		if got.Body != b.body {
			t.Errorf("%s: stored body %q, sent %q", b.name, got.Body, b.body)
		}
		if len(got.Mentions) != 0 {
			t.Errorf("%s: mentions %v in an e2e conversation", b.name, got.Mentions)
		}
	}
}

func TestRESTRefreshTokenRotation(t *testing.T) {
	env := testenv.Start(t)
	sc := newSpecClient(t, env.Edges[0].URL)
	name := uniqueName("r")
	first := sc.register(t, name)
	var other specSession // a second sign-in: another family
	sc.do(t, specCall{method: "POST", path: "/v1/auth/login",
		body: map[string]string{"username": name, "password": "correct horse battery"}}, 200).decode(t, &other)

	refresh := func(rt string, want int) specSession {
		t.Helper()
		var s specSession
		a := sc.do(t, specCall{method: "POST", path: "/v1/auth/refresh", body: map[string]string{"refresh_token": rt}}, want)
		if want == 200 {
			a.decode(t, &s)
		} else if code := a.errorCode(t); code != parley.CodeUnauthorized {
			t.Errorf("refresh refused with code %q, want unauthorized", code)
		}
		return s
	}
	next := refresh(first.RefreshToken, 200)
	if next.RefreshToken == first.RefreshToken || next.AccessToken == "" {
		t.Fatalf("refresh answered %+v: nothing rotated", next)
	}
	var me struct{ User parley.User }
	sc.do(t, specCall{method: "GET", path: "/v1/me", token: next.AccessToken}, 200).decode(t, &me)
	if me.User != first.User {
		t.Errorf("refreshed token acts as %+v, want %+v", me.User, first.User)
	}
	refresh(first.RefreshToken, 401) // reused: the family is revoked
	refresh(next.RefreshToken, 401)  // so its newest token is gone too
	if s := refresh(other.RefreshToken, 200); s.AccessToken == "" {
		t.Error("the other sign-in's family was revoked with the reused one")
	}
}

func TestRESTAccessTokenExpires(t *testing.T) {
	const ttl = 2 * time.Second
	env := testenv.Start(t, testenv.WithEdgeConfig(func(c *edge.Config) { c.AccessTTL = ttl }))
	sc := newSpecClient(t, env.Edges[0].URL)
	s := sc.register(t, uniqueName("e"))
	if d := time.Until(s.ExpiresAt); d > ttl || d < 0 {
		t.Fatalf("expires_at %v is %v away, want within %v", s.ExpiresAt, d, ttl)
	}
	me := specCall{method: "GET", path: "/v1/me", token: s.AccessToken}
	eventually(t, ttl+5*time.Second, func() error {
		start := time.Now()
		a := sc.exchange(t, me)
		switch {
		case a.status == http.StatusOK && !start.Before(s.ExpiresAt):
			t.Fatalf("token accepted at %v, after it expired at %v", start, s.ExpiresAt)
		case a.status == http.StatusOK:
			return errors.New("still accepted")
		case a.status != http.StatusUnauthorized:
			t.Fatalf("status %d: %s", a.status, a.body)
		}
		if now := time.Now(); now.Before(s.ExpiresAt) {
			t.Errorf("token refused at %v, before it expires at %v", now, s.ExpiresAt)
		}
		return nil
	})
	// The refresh token outlives it.
	var next specSession
	sc.do(t, specCall{method: "POST", path: "/v1/auth/refresh", body: map[string]string{"refresh_token": s.RefreshToken}}, 200).decode(t, &next)
	sc.do(t, specCall{method: "GET", path: "/v1/me", token: next.AccessToken}, 200)
}

func TestRESTListLimits(t *testing.T) {
	env := testenv.Start(t)
	base := env.Edges[0].URL
	sc := newSpecClient(t, base)
	alice := newUser(t, base)
	bob := newUser(t, base)
	g, err := alice.CreateGroup(ctx(t), "many", []string{uid(bob)}, false)
	if err != nil {
		t.Fatal(err)
	}
	// More messages than the largest page, sent over one socket.
	const n = 210
	conn := connect(t, alice, client.ConnOptions{})
	pending := make([]*client.Pending, n)
	for i := range pending {
		if pending[i], err = conn.SendAsync(g.ID, "m"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	var last parley.Message
	for _, p := range pending {
		if last, err = p.Wait(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	tok := alice.Session().AccessToken
	lists := []string{"/v1/users", "/v1/conversations", "/v1/conversations/" + g.ID + "/messages", "/v1/conversations/" + g.ID + "/members"}

	t.Run("invalid", func(t *testing.T) {
		for _, path := range lists {
			for _, q := range []string{"limit=0", "limit=abc", "limit=-1", "limit=1.5", "limit="} {
				if q == "limit=" {
					continue // empty means absent
				}
				a := sc.do(t, specCall{method: "GET", path: path + "?" + q, token: tok, offSpec: true}, 400)
				if code := a.errorCode(t); code != parley.CodeInvalid {
					t.Errorf("%s?%s: code %q, want invalid", path, q, code)
				}
			}
		}
		for _, q := range []string{"after_seq=abc", "before_seq=-1"} {
			sc.do(t, specCall{method: "GET", path: lists[2] + "?" + q, token: tok, offSpec: true}, 400)
		}
	})

	t.Run("page sizes", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			query string
			want  int
		}{
			{"default", "", 50},
			{"small", "?limit=7", 7},
			{"the maximum", "?limit=200", 200},
			{"above the maximum is capped", "?limit=500", 200},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var page struct {
					Messages   []parley.Message
					NextCursor string `json:"next_cursor"`
				}
				sc.do(t, specCall{method: "GET", path: lists[2] + tc.query, token: tok}, 200).decode(t, &page)
				ms := page.Messages
				if len(ms) != tc.want {
					t.Fatalf("%d messages, want %d", len(ms), tc.want)
				}
				if ms[len(ms)-1].ID != last.ID || !strings.HasPrefix(ms[0].Body, "m") {
					t.Errorf("page ends with %+v, want the latest message %s", ms[len(ms)-1], last.ID)
				}
				if page.NextCursor != ms[0].ID {
					t.Errorf("next_cursor %q, want the oldest of the page, %s", page.NextCursor, ms[0].ID)
				}
			})
		}
	})
}
