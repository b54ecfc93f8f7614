package acceptance

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/testenv"
)

// Two users on two edges exchange 1,000 messages in both directions at once;
// both see the same order with an unbroken prev_seq chain.
func TestTwoEdgesExchangeInTheSameOrder(t *testing.T) {
	env := testenv.Start(t, testenv.WithEdges(2))
	alice := newUser(t, env.Edges[0].URL)
	bob := newUser(t, env.Edges[1].URL)
	conv, err := alice.CreateDirect(ctx(t), bob.Session().User.ID)
	if err != nil {
		t.Fatal(err)
	}
	ca := connect(t, alice, client.ConnOptions{})
	cb := connect(t, bob, client.ConnOptions{})

	const n = 1000
	var wg sync.WaitGroup
	for _, s := range []struct {
		c    *client.Conn
		name string
	}{{ca, "alice"}, {cb, "bob"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pending := make([]*client.Pending, 0, n)
			for i := range n {
				p, err := s.c.SendAsync(conv.ID, fmt.Sprintf("%s %d", s.name, i))
				if err != nil {
					t.Errorf("%s send %d: %v", s.name, i, err)
					return
				}
				pending = append(pending, p)
			}
			for i, p := range pending {
				if _, err := p.Wait(ctx(t)); err != nil {
					t.Errorf("%s ack %d: %v", s.name, i, err)
					return
				}
			}
		}()
	}
	got := map[string][]client.Event{}
	var mu sync.Mutex
	for _, s := range []struct {
		c    *client.Conn
		name string
	}{{ca, "alice"}, {cb, "bob"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			col := &collector{t: t}
			col.until(s.c, conv.ID, 2*time.Minute, countMessages(2*n))
			mu.Lock()
			got[s.name] = col.events
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	a, b := messagesIn(got["alice"]), messagesIn(got["bob"])
	if diff := cmp.Diff(seqsOf(a), seqsOf(b)); diff != "" {
		t.Fatalf("alice and bob saw different orders (-alice +bob):\n%s", diff)
	}
	checkChain(t, "alice", got["alice"])
	checkChain(t, "bob", got["bob"])
	// Each sender's own messages arrive in the order they were sent.
	for _, who := range []string{"alice", "bob"} {
		next := 0
		for _, m := range a {
			if body := fmt.Sprintf("%s %d", who, next); m.Body == body {
				next++
			} else if len(m.Body) > len(who) && m.Body[:len(who)] == who {
				t.Fatalf("%s's messages out of order: got %q, want %q", who, m.Body, body)
			}
		}
		if next != n {
			t.Fatalf("%s: %d of %d messages arrived", who, next, n)
		}
	}
	for _, c := range []*client.Conn{ca, cb} {
		if st := c.Stats(); st.Gaps != 0 || st.Duplicates != 0 {
			t.Fatalf("client saw gaps or duplicates: %+v", st)
		}
	}
}

// An edge killed mid-stream: its client resumes on the other edge with no
// gap and no duplicate.
func TestEdgeKilledClientResumesElsewhere(t *testing.T) {
	env := testenv.Start(t, testenv.WithEdges(2))
	alice := newUser(t, env.Edges[0].URL)
	bob := newUser(t, env.Edges[1].URL)
	conv, err := alice.CreateDirect(ctx(t), bob.Session().User.ID)
	if err != nil {
		t.Fatal(err)
	}
	ca := connect(t, alice, client.ConnOptions{})
	cb := connect(t, bob, client.ConnOptions{
		Endpoints:  []string{env.Edges[1].URL, env.Edges[0].URL},
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
	})

	const n = 600
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := ca.Send(ctx(t), conv.ID, strconv.Itoa(i)); err != nil {
				done <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		done <- nil
	}()
	col := &collector{t: t}
	col.until(cb, conv.ID, time.Minute, countMessages(n/3))
	env.Edges[1].Kill()
	col.until(cb, conv.ID, 2*time.Minute, countMessages(n))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cb.Endpoint(), env.Edges[0].Addr) {
		t.Fatalf("bob is on %s, want the surviving edge %s", cb.Endpoint(), env.Edges[0].URL)
	}
	checkChain(t, "bob", col.events)
	ms := messagesIn(col.events)
	for i, m := range ms {
		if m.Body != strconv.Itoa(i) {
			t.Fatalf("message %d is %q: lost, duplicated or reordered", i, m.Body)
		}
	}
	if st := cb.Stats(); st.Connects < 2 || st.Gaps != 0 {
		t.Fatalf("bob's stats %+v: want a reconnect and no gap", st)
	}
}

// 1,000 sends made while disconnected arrive once each, in order, after
// reconnect.
func TestOfflineQueueDeliversInOrderOnce(t *testing.T) {
	env := testenv.Start(t)
	alice := newUser(t, env.Edges[0].URL)
	bob := newUser(t, env.Edges[0].URL)
	conv, err := alice.CreateGroup(ctx(t), "offline", []string{bob.Session().User.ID}, false)
	if err != nil {
		t.Fatal(err)
	}
	cb := connect(t, bob, client.ConnOptions{})
	ca := connect(t, alice, client.ConnOptions{MinBackoff: 10 * time.Millisecond})
	ca.GoOffline()
	if err := ca.WaitState(ctx(t), client.StateOffline); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	pending := make([]*client.Pending, n)
	for i := range n {
		if pending[i], err = ca.SendAsync(conv.ID, strconv.Itoa(i)); err != nil {
			t.Fatalf("queue %d: %v", i, err)
		}
	}
	// Nothing may leave while offline.
	if ms, err := alice.Messages(ctx(t), conv.ID, 0, 0, 10); err != nil || len(ms) != 0 {
		t.Fatalf("history while offline: %d messages, %v", len(ms), err)
	}
	ca.GoOnline()
	for i, p := range pending {
		m, err := p.Wait(ctx(t))
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if m.Body != strconv.Itoa(i) {
			t.Fatalf("ack %d carries %q", i, m.Body)
		}
	}
	col := &collector{t: t}
	col.until(cb, conv.ID, time.Minute, countMessages(n))
	for i, m := range messagesIn(col.events) {
		if m.Body != strconv.Itoa(i) {
			t.Fatalf("bob's message %d is %q", i, m.Body)
		}
	}
	checkChain(t, "bob", col.events)
	var stored []parley.Message // paged from the newest back
	for before := uint64(0); ; {
		page, err := bob.Messages(ctx(t), conv.ID, 0, before, 200)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		stored = append(page, stored...)
		before = page[0].Seq
	}
	if len(stored) != n {
		t.Fatalf("history holds %d messages, want %d", len(stored), n)
	}
	for i, m := range stored {
		if m.Body != strconv.Itoa(i) {
			t.Fatalf("stored message %d is %q", i, m.Body)
		}
	}
}

// A non-member can neither read, send, edit, nor learn that a conversation
// exists: every answer is the one a missing conversation gets.
func TestNonMemberSeesNothing(t *testing.T) {
	env := testenv.Start(t)
	alice := newUser(t, env.Edges[0].URL)
	bob := newUser(t, env.Edges[0].URL)
	eve := newUser(t, env.Edges[0].URL)
	conv, err := alice.CreateGroup(ctx(t), "secret", []string{bob.Session().User.ID}, false)
	if err != nil {
		t.Fatal(err)
	}
	m, err := alice.SendMessage(ctx(t), conv.ID, "", "hello bob", "")
	if err != nil {
		t.Fatal(err)
	}
	ce := connect(t, eve, client.ConnOptions{})

	const missing = "aaaaaaaaaaaaaaaaaaaaaaaaaa"
	for _, tc := range []struct {
		name string
		call func(cid string) error
	}{
		{"get", func(cid string) error { _, err := eve.Conversation(ctx(t), cid); return err }},
		{"history", func(cid string) error { _, err := eve.Messages(ctx(t), cid, 0, 0, 50); return err }},
		{"members", func(cid string) error { _, err := eve.Members(ctx(t), cid, ""); return err }},
		{"send rest", func(cid string) error { _, err := eve.SendMessage(ctx(t), cid, "", "hi", ""); return err }},
		{"edit rest", func(cid string) error { _, err := eve.EditMessage(ctx(t), cid, m.ID, "mine"); return err }},
		{"delete rest", func(cid string) error { return eve.DeleteMessage(ctx(t), cid, m.ID) }},
		{"versions", func(cid string) error { _, err := eve.MessageHistory(ctx(t), cid, m.ID); return err }},
		{"read rest", func(cid string) error { return eve.MarkRead(ctx(t), cid, m.Seq) }},
		{"rename", func(cid string) error { _, err := eve.Rename(ctx(t), cid, "mine"); return err }},
		{"add self", func(cid string) error { return eve.AddMembers(ctx(t), cid, []string{eve.Session().User.ID}) }},
		{"send ws", func(cid string) error { _, err := ce.Send(ctx(t), cid, "hi"); return err }},
		{"edit ws", func(cid string) error { return ce.Edit(ctx(t), cid, m.ID, "mine") }},
		{"delete ws", func(cid string) error { return ce.Delete(ctx(t), cid, m.ID) }},
		{"read ws", func(cid string) error { return ce.Read(ctx(t), cid, m.Seq) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errReal, errMissing := tc.call(conv.ID), tc.call(missing)
			var pe *parley.Error
			if !errors.As(errReal, &pe) || pe.Code != parley.CodeNotFound {
				t.Fatalf("on the real conversation: %v, want not_found", errReal)
			}
			if diff := cmp.Diff(errMissing.Error(), errReal.Error()); diff != "" {
				t.Fatalf("answers differ from a missing conversation's (-missing +real):\n%s", diff)
			}
		})
	}
	convs, err := eve.Conversations(ctx(t))
	if err != nil || len(convs) != 0 {
		t.Fatalf("eve lists %d conversations (%v)", len(convs), err)
	}
	// Nothing of it reaches eve's socket, and the message is untouched.
	if st := ce.Stats(); st.Events != 0 {
		t.Fatalf("eve received %d events", st.Events)
	}
	got, err := bob.Messages(ctx(t), conv.ID, 0, 0, 50)
	if err != nil || len(got) != 1 || got[0].Body != "hello bob" || got[0].Deleted {
		t.Fatalf("bob's history %+v (%v)", got, err)
	}
}
