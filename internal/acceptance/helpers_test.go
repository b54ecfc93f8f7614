package acceptance

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var userSeq atomic.Int64

// newUser registers a fresh user on the edge at base and returns an API
// acting as them.
func newUser(t testing.TB, base string) *client.API {
	t.Helper()
	api := client.New(base)
	name := fmt.Sprintf("u%d_%d", time.Now().UnixNano()%1e9, userSeq.Add(1))
	if _, err := api.Register(ctx(t), name, "correct horse battery", ""); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return api
}

// ctx returns a context that ends with the test, at most a few minutes on.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return c
}

func connect(t testing.TB, api *client.API, opt client.ConnOptions) *client.Conn {
	t.Helper()
	c, err := api.Connect(ctx(t), opt)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// collector gathers the events of one conversation from a Conn.
type collector struct {
	t      testing.TB
	events []client.Event
}

// until reads events of cid until cond holds for what was gathered.
func (col *collector) until(c *client.Conn, cid string, d time.Duration, cond func([]client.Event) bool) {
	col.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for !cond(col.events) {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				col.t.Fatalf("event channel closed; conn error: %v", c.Err())
			}
			if ev.ConversationID == cid {
				col.events = append(col.events, ev)
			}
		case <-deadline.C:
			col.t.Fatalf("timed out after %d events of %s", len(col.events), cid)
		}
	}
}

func messagesIn(evs []client.Event) []parley.Message {
	var out []parley.Message
	for _, ev := range evs {
		if ev.Name == parley.EventMessageNew {
			m, err := ev.Message()
			if err == nil {
				out = append(out, m)
			}
		}
	}
	return out
}

func countMessages(n int) func([]client.Event) bool {
	return func(evs []client.Event) bool {
		c := 0
		for _, ev := range evs {
			if ev.Name == parley.EventMessageNew {
				c++
			}
		}
		return c >= n
	}
}

// checkChain fails unless the events are in strictly increasing seq order
// with each prev_seq naming the event before it (the first may point
// anywhere before itself).
func checkChain(t testing.TB, who string, evs []client.Event) {
	t.Helper()
	for i, ev := range evs {
		if ev.PrevSeq >= ev.Seq {
			t.Fatalf("%s: event %d (%s) has prev_seq %d >= seq %d", who, i, ev.Name, ev.PrevSeq, ev.Seq)
		}
		if i > 0 && ev.PrevSeq != evs[i-1].Seq {
			t.Fatalf("%s: event %d (%s seq %d) has prev_seq %d, want %d", who, i, ev.Name, ev.Seq, ev.PrevSeq, evs[i-1].Seq)
		}
	}
}

func seqsOf(ms []parley.Message) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}
