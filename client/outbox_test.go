package client

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func refs(ops []*op) []string {
	out := []string{}
	for _, o := range ops {
		out = append(out, o.ref)
	}
	return out
}

func fill(t *testing.T, b *outbox, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := b.add(newOp(n, []byte(n), "")); err != nil {
			t.Fatalf("add %s: %v", n, err)
		}
	}
}

func TestOutboxBound(t *testing.T) {
	b := &outbox{limit: 2}
	fill(t, b, "a", "b")
	if err := b.add(newOp("c", nil, "")); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third add: %v, want ErrQueueFull", err)
	}
	b.take(10) // written frames still count until answered
	if err := b.add(newOp("c", nil, "")); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("add after take: %v, want ErrQueueFull", err)
	}
	b.remove("a")
	if err := b.add(newOp("c", nil, "")); err != nil {
		t.Fatalf("add after an answer: %v", err)
	}
}

func TestOutboxWindow(t *testing.T) {
	b := &outbox{limit: 100}
	fill(t, b, "a", "b", "c", "d", "e")
	if diff := cmp.Diff([]string{"a", "b"}, refs(b.take(2))); diff != "" {
		t.Errorf("first take (-want +got):\n%s", diff)
	}
	if got := b.take(2); len(got) != 0 {
		t.Errorf("take with a full window = %v, want none", refs(got))
	}
	b.remove("a")
	if diff := cmp.Diff([]string{"c"}, refs(b.take(2))); diff != "" {
		t.Errorf("take after one answer (-want +got):\n%s", diff)
	}
}

func TestOutboxResendsUnansweredFirst(t *testing.T) {
	b := &outbox{limit: 100}
	fill(t, b, "a", "b", "c")
	b.take(100) // a, b, c written on the first socket
	b.remove("b")
	fill(t, b, "d", "e") // queued while the socket is down
	b.restart()
	if diff := cmp.Diff([]string{"a", "c", "d", "e"}, refs(b.take(100))); diff != "" {
		t.Errorf("writes on the new socket (-want +got):\n%s", diff)
	}
}

func TestOutboxRemove(t *testing.T) {
	b := &outbox{limit: 100}
	fill(t, b, "a", "b", "c", "d")
	b.take(3)
	if o := b.remove("b"); o == nil || o.ref != "b" {
		t.Fatalf("remove b = %v", o)
	}
	if o := b.remove("b"); o != nil {
		t.Fatalf("second remove b = %v, want nil", o.ref)
	}
	if o := b.remove("d"); o == nil { // never written
		t.Fatal("remove d = nil")
	}
	if b.sent != 2 {
		t.Errorf("sent = %d, want 2 (a and c)", b.sent)
	}
	if diff := cmp.Diff([]string{"a", "c"}, refs(b.ops)); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
	if got := refs(b.drain()); len(got) != 2 || len(b.ops) != 0 || b.sent != 0 {
		t.Errorf("drain = %v, left %d ops, sent %d", got, len(b.ops), b.sent)
	}
}

func TestOutboxLargestWritten(t *testing.T) {
	b := &outbox{limit: 100}
	for _, f := range []string{"aa", "bbbb", "c", "dddddddd"} {
		if err := b.add(newOp(f, []byte(f), "")); err != nil {
			t.Fatal(err)
		}
	}
	if o := b.largestWritten(); o != nil {
		t.Fatalf("nothing written yet, got %s", o.ref)
	}
	b.take(3)
	if o := b.largestWritten(); o == nil || o.ref != "bbbb" {
		t.Fatalf("largest written = %v, want bbbb (dddddddd was not written)", o)
	}
}
