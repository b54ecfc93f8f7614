package persist_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parley-im/parley"
)

// bodies returns "seq:body" of each message, with "x" for deleted ones.
func bodies(ms []parley.Message) []string {
	var out []string
	for _, m := range ms {
		b := m.Body
		if m.Deleted {
			b = "x"
		}
		out = append(out, parley.MessageID(m.Seq)+":"+b)
	}
	return out
}

func TestMessagesPaging(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	var evs []parley.Event
	for seq := uint64(1); seq <= 10; seq++ {
		evs = append(evs, newMsg("c", seq*2, "u", parley.MessageID(seq), parley.MessageID(seq*2)))
	}
	mustWrite(t, s, evs...)
	for _, tc := range []struct {
		name string
		page parley.Page
		want []string
	}{
		{"latest", parley.Page{Limit: 3}, []string{"16:16", "18:18", "20:20"}},
		{"before", parley.Page{Before: 16, Limit: 2}, []string{"12:12", "14:14"}},
		{"before the first", parley.Page{Before: 2, Limit: 5}, nil},
		{"from the start", parley.Page{Forward: true, Limit: 2}, []string{"2:2", "4:4"}},
		{"after", parley.Page{After: 5, Forward: true, Limit: 2}, []string{"6:6", "8:8"}},
		{"after, before", parley.Page{After: 5, Before: 10, Forward: true, Limit: 5}, []string{"6:6", "8:8"}},
		{"after the last", parley.Page{After: 20, Forward: true, Limit: 2}, nil},
		{"all", parley.Page{}, []string{"2:2", "4:4", "6:6", "8:8", "10:10", "12:12", "14:14", "16:16", "18:18", "20:20"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := s.Messages(ctx, "c", tc.page)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, bodies(ms)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if ms, err := s.Messages(ctx, "other", parley.Page{Limit: 10}); err != nil || ms == nil || len(ms) != 0 {
		t.Errorf("messages of an empty conversation: %#v, %v", ms, err)
	}
}

func TestMessageState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reply := "3"
	events := []parley.Event{
		newMsg("c", 3, "ann", "a1", "first"),
		{Kind: parley.EventMemberAdded, ConversationID: "c", ActorID: "ann", At: at(4), Seq: 4,
			Members: []parley.Member{{User: parley.User{ID: "bob", Username: "bob"}, Role: parley.RoleMember}}},
		newMsg("c", 5, "bob", "b1", "second"),
		edit("c", 7, 3, "ann", "first, edited"),
		edit("c", 9, 3, "ann", "first, edited twice"),
		newMsg("other", 10, "ann", "o1", "elsewhere"),
		del("c", 11, 5, "bob"),
		edit("c", 12, 5, "bob", "ignored: deleted"),
		newMsg("c", 13, "bob", "b2", "third"),
		newMsg("c", 14, "bob", "b2", "retry of third, past the duplicate window"),
		read("c", 15, "ann", 13),
	}
	events[8].Message.ReplyTo = &reply
	events[8].Message.Mentions = []string{"ann"}
	want := []parley.Message{
		{ID: "3", ConversationID: "c", Seq: 3, PrevSeq: 0, ClientID: "a1", SenderID: "ann", Body: "first, edited twice",
			Mentions: []string{}, Reactions: map[string]int{}, CreatedAt: at(3), EditedAt: ptr(at(9))},
		{ID: "5", ConversationID: "c", Seq: 5, PrevSeq: 4, ClientID: "b1", SenderID: "bob", Body: "",
			Mentions: []string{}, Reactions: map[string]int{}, CreatedAt: at(5), Deleted: true},
		{ID: "13", ConversationID: "c", Seq: 13, PrevSeq: 12, ClientID: "b2", SenderID: "bob", Body: "third", ReplyTo: &reply,
			Mentions: []string{"ann"}, Reactions: map[string]int{}, CreatedAt: at(13)},
	}
	// The same events in order, reversed, shuffled, written one at a time
	// and twice over, split into batches: always the same state. This is
	// what several workers and redeliveries do.
	orders := map[string][][]parley.Event{
		"in order":              {events},
		"reversed":              {reverse(events)},
		"one by one, reversed":  split(reverse(events), 1),
		"shuffled batches of 3": split(shuffle(events), 3),
		"twice":                 {events, shuffle(events)},
	}
	for name, batches := range orders {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			for _, b := range batches {
				mustWrite(t, s, b...)
			}
			ms, err := s.Messages(ctx, "c", parley.Page{Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, ms); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			m, err := s.Message(ctx, "c", 3)
			if err != nil || !cmp.Equal(m, want[0]) {
				t.Errorf("Message(3) = %+v, %v", m, err)
			}
			vs, err := s.MessageVersions(ctx, "c", 3)
			if err != nil {
				t.Fatal(err)
			}
			wantVs := []parley.MessageVersion{
				{Seq: 3, Body: "first", EditedAt: at(3)},
				{Seq: 7, Body: "first, edited", EditedAt: at(7)},
				{Seq: 9, Body: "first, edited twice", EditedAt: at(9)},
			}
			if diff := cmp.Diff(wantVs, vs); diff != "" {
				t.Errorf("versions (-want +got):\n%s", diff)
			}
			if _, err := s.MessageVersions(ctx, "c", 5); !errors.Is(err, parley.ErrNotFound) {
				t.Errorf("versions of a deleted message: %v", err)
			}
			if _, err := s.Message(ctx, "c", 14); !errors.Is(err, parley.ErrNotFound) {
				t.Errorf("the retried send is a message: %v", err)
			}
		})
	}
}

func TestEditBeforeMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	mustWrite(t, s, edit("c", 8, 2, "ann", "edited"))
	if _, err := s.Message(ctx, "c", 2); !errors.Is(err, parley.ErrNotFound) {
		t.Fatalf("a lone edit makes a message: %v", err)
	}
	if _, err := s.MessageVersions(ctx, "c", 2); !errors.Is(err, parley.ErrNotFound) {
		t.Fatalf("a lone edit has versions: %v", err)
	}
	mustWrite(t, s, newMsg("c", 2, "ann", "a", "original"))
	m, err := s.Message(ctx, "c", 2)
	if err != nil || m.Body != "edited" || m.EditedAt == nil || !m.EditedAt.Equal(at(8)) {
		t.Errorf("message = %+v, %v; want the edited body", m, err)
	}
}

func TestEventsSince(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	// Two conversations interleaved on one stream; written out of order.
	evs := []parley.Event{
		newMsg("a", 1, "u", "1", "a1"),
		newMsg("b", 2, "u", "2", "b1"),
		edit("a", 3, 1, "u", "a1'"),
		read("b", 4, "v", 2),
		newMsg("a", 5, "u", "5", "a2"),
		{Kind: parley.EventConversationUpdated, ConversationID: "b", ActorID: "u", At: at(6), Seq: 6, Title: "T"},
		newMsg("c", 7, "u", "7", "c1"),
	}
	mustWrite(t, s, evs[4], evs[6], evs[1])
	mustWrite(t, s, evs[5], evs[0], evs[3], evs[2])
	type got struct {
		Seq, Prev uint64
		CID       string
		Kind      parley.EventKind
	}
	for _, tc := range []struct {
		name  string
		since map[string]uint64
		upto  uint64
		limit int
		want  []got
	}{
		{"from the start", map[string]uint64{"a": 0, "b": 0}, 0, 0, []got{
			{1, 0, "a", parley.EventMessageNew}, {2, 0, "b", parley.EventMessageNew}, {3, 1, "a", parley.EventMessageEdited},
			{4, 2, "b", parley.EventRead}, {5, 3, "a", parley.EventMessageNew}, {6, 4, "b", parley.EventConversationUpdated}}},
		{"since", map[string]uint64{"a": 3, "b": 2}, 0, 0, []got{
			{4, 2, "b", parley.EventRead}, {5, 3, "a", parley.EventMessageNew}, {6, 4, "b", parley.EventConversationUpdated}}},
		{"upto", map[string]uint64{"a": 0, "b": 0, "c": 0}, 4, 0, []got{
			{1, 0, "a", parley.EventMessageNew}, {2, 0, "b", parley.EventMessageNew}, {3, 1, "a", parley.EventMessageEdited},
			{4, 2, "b", parley.EventRead}}},
		{"limit", map[string]uint64{"a": 0, "c": 0}, 0, 2, []got{
			{1, 0, "a", parley.EventMessageNew}, {3, 1, "a", parley.EventMessageEdited}}},
		{"nothing", map[string]uint64{}, 0, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.EventsSince(ctx, tc.since, tc.upto, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var gs []got
			for _, ev := range out {
				gs = append(gs, got{ev.Seq, ev.PrevSeq, ev.ConversationID, ev.Kind})
			}
			if diff := cmp.Diff(tc.want, gs); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	out, err := s.EventsSince(ctx, map[string]uint64{"a": 2}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(evs[2].Body, out[0].Body); diff != "" || out[0].MessageID != "1" || !out[0].At.Equal(at(3)) {
		t.Errorf("decoded edit = %+v", out[0])
	}
	if m := out[1].Message; m == nil || m.Body != "a2" || m.ClientID != "5" {
		t.Errorf("decoded message = %+v", out[1])
	}
}

func ptr[T any](v T) *T { return &v }

func reverse(evs []parley.Event) []parley.Event {
	out := make([]parley.Event, len(evs))
	for i, ev := range evs {
		out[len(evs)-1-i] = ev
	}
	return out
}

func shuffle(evs []parley.Event) []parley.Event {
	out := append([]parley.Event(nil), evs...)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func split(evs []parley.Event, n int) [][]parley.Event {
	var out [][]parley.Event
	for len(evs) > n {
		out, evs = append(out, evs[:n]), evs[n:]
	}
	return append(out, evs)
}
