package persist_test

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/edge"
	"github.com/parley-im/parley/persist"
	"github.com/parley-im/parley/persist/pgtest"
)

// The Store is what edges use.
var _ edge.Store = (*persist.Store)(nil)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newStore returns a Store on a fresh, migrated database.
func newStore(t testing.TB) *persist.Store {
	t.Helper()
	s, err := persist.Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func mustUser(t testing.TB, s *persist.Store, username string) parley.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), username, "Name "+username, []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustGroup(t testing.TB, s *persist.Store, title string, owner parley.User, others ...parley.User) parley.Conversation {
	t.Helper()
	ms := []parley.NewMember{{UserID: owner.ID, Role: parley.RoleOwner}}
	for _, u := range others {
		ms = append(ms, parley.NewMember{UserID: u.ID, Role: parley.RoleMember})
	}
	c, _, err := s.CreateConversation(context.Background(), parley.Conversation{Type: parley.Group, Title: title}, ms, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustWrite(t testing.TB, s *persist.Store, evs ...parley.Event) {
	t.Helper()
	if err := s.WriteEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// at returns a time n seconds after t0.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

func newMsg(cid string, seq uint64, sender, clientID, body string) parley.Event {
	return parley.Event{
		Kind: parley.EventMessageNew, ConversationID: cid, ActorID: sender, At: at(int(seq)), Seq: seq,
		Message: &parley.Message{ConversationID: cid, SenderID: sender, ClientID: clientID, Body: body, CreatedAt: at(int(seq))},
	}
}

func edit(cid string, seq, msgSeq uint64, actor, body string) parley.Event {
	return parley.Event{Kind: parley.EventMessageEdited, ConversationID: cid, ActorID: actor, At: at(int(seq)), Seq: seq,
		MessageID: parley.MessageID(msgSeq), Body: body}
}

func del(cid string, seq, msgSeq uint64, actor string) parley.Event {
	return parley.Event{Kind: parley.EventMessageDeleted, ConversationID: cid, ActorID: actor, At: at(int(seq)), Seq: seq,
		MessageID: parley.MessageID(msgSeq)}
}

func read(cid string, seq uint64, uid string, upto uint64) parley.Event {
	return parley.Event{Kind: parley.EventRead, ConversationID: cid, ActorID: uid, At: at(int(seq)), Seq: seq,
		UserID: uid, ReadSeq: upto}
}
