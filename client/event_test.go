package client

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parley-im/parley"
)

func TestChains(t *testing.T) {
	type in struct {
		cid       string
		seq, prev uint64
	}
	type want struct {
		fresh bool
		gap   *Gap
	}
	tests := []struct {
		name     string
		events   []in
		want     []want
		dup, gap uint64
	}{
		{
			name:   "a chain in order",
			events: []in{{"c1", 5, 3}, {"c1", 9, 5}, {"c1", 10, 9}},
			want:   []want{{true, nil}, {true, nil}, {true, nil}},
		},
		{
			name:   "replayed events are dropped",
			events: []in{{"c1", 5, 0}, {"c1", 9, 5}, {"c1", 5, 0}, {"c1", 9, 5}, {"c1", 12, 9}},
			want:   []want{{true, nil}, {true, nil}, {false, nil}, {false, nil}, {true, nil}},
			dup:    2,
		},
		{
			name:   "a gap is counted and the chain goes on from the event",
			events: []in{{"c1", 5, 0}, {"c1", 9, 7}, {"c1", 10, 9}},
			want:   []want{{true, nil}, {true, &Gap{"c1", 5, 9, 7}}, {true, nil}},
			gap:    1,
		},
		{
			name:   "conversations have separate chains",
			events: []in{{"c1", 5, 0}, {"c2", 6, 2}, {"c1", 7, 5}, {"c2", 8, 6}},
			want:   []want{{true, nil}, {true, nil}, {true, nil}, {true, nil}},
		},
		{
			name:   "ephemeral events have no seq and always pass",
			events: []in{{"c1", 5, 0}, {"c1", 0, 0}, {"c1", 0, 0}, {"c1", 6, 5}},
			want:   []want{{true, nil}, {true, nil}, {true, nil}, {true, nil}},
		},
		{
			name:   "the user's own chain has the empty key",
			events: []in{{"", 3, 0}, {"", 3, 0}, {"", 4, 2}},
			want:   []want{{true, nil}, {false, nil}, {true, &Gap{"", 3, 4, 2}}},
			dup:    1,
			gap:    1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChains()
			var got []want
			for _, e := range tt.events {
				fresh, gap := c.observe(e.cid, e.seq, e.prev)
				got = append(got, want{fresh, gap})
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if c.dups != tt.dup || c.gaps != tt.gap {
				t.Errorf("dups, gaps = %d, %d; want %d, %d", c.dups, c.gaps, tt.dup, tt.gap)
			}
		})
	}
}

func TestChainsForget(t *testing.T) {
	c := newChains()
	c.observe("c1", 5, 0)
	c.forget("c1") // the user left c1
	if fresh, gap := c.observe("c1", 40, 31); !fresh || gap != nil {
		t.Errorf("first event after rejoining: fresh %v, gap %v; want fresh, no gap", fresh, gap)
	}
}

func TestEventMessage(t *testing.T) {
	frame := `{"type":"event","event":"message.new","conversation_id":"c1","seq":7,"prev_seq":4,"cursor":"k",
		"data":{"id":"7","conversation_id":"c1","seq":7,"prev_seq":4,"client_id":"x","sender_id":"u1","body":"hi",
		"reply_to":null,"mentions":[],"reactions":{},"created_at":"2026-01-02T03:04:05Z","edited_at":null,"deleted":false}}`
	var f parley.ServerFrame
	if err := json.Unmarshal([]byte(frame), &f); err != nil {
		t.Fatal(err)
	}
	e := Event{Name: f.Event, ConversationID: f.ConversationID, Seq: f.Seq, PrevSeq: f.PrevSeq, Cursor: f.Cursor, Data: f.Data}
	m, err := e.Message()
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "7" || m.Seq != 7 || m.PrevSeq != 4 || m.Body != "hi" || m.SenderID != "u1" || m.CreatedAt.Year() != 2026 {
		t.Errorf("message = %+v", m)
	}

	e.Name = parley.EventMessageEdited
	if _, err := e.Message(); err == nil {
		t.Error("Message of a message.edited event: no error")
	}
	var edited struct {
		MessageID string `json:"message_id"`
	}
	e.Data = json.RawMessage(`{"message_id":"7","body":"hey"}`)
	if err := e.Decode(&edited); err != nil || edited.MessageID != "7" {
		t.Errorf("Decode = %v, %+v", err, edited)
	}
}
