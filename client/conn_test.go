package client

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parley-im/parley"
)

func TestWSURL(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{in: "http://127.0.0.1:8080", want: "ws://127.0.0.1:8080/v1/ws"},
		{in: "https://chat.example.com/", want: "wss://chat.example.com/v1/ws"},
		{in: "ws://10.0.0.2:9000/v1/ws", want: "ws://10.0.0.2:9000/v1/ws"},
		{in: "wss://edge-3/custom", want: "wss://edge-3/custom"},
		{in: "ftp://x", err: true},
		{in: "http://", err: true},
	}
	for _, tt := range tests {
		got, err := wsURL(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("wsURL(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// closedAddr returns an address on which nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func offlineConn(t *testing.T, opt ConnOptions) *Conn {
	t.Helper()
	opt.Offline = true
	if opt.Endpoints == nil {
		opt.Endpoints = []string{"http://" + closedAddr(t)}
	}
	c, err := New("http://unused.test").Connect(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func queuedFrames(c *Conn) []parley.ClientFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	var fs []parley.ClientFrame
	for _, o := range c.out.ops {
		var f parley.ClientFrame
		if err := json.Unmarshal(o.frame, &f); err != nil {
			panic(err)
		}
		fs = append(fs, f)
	}
	return fs
}

func TestOfflineQueue(t *testing.T) {
	c := offlineConn(t, ConnOptions{QueueSize: 4})
	if st := c.State(); st != StateOffline {
		t.Fatalf("state = %v, want offline", st)
	}
	var ps []*Pending
	for _, body := range []string{"one", "two", "three"} {
		p, err := c.SendAsync("c1", body)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}

	// A frame whose ctx ends while queued is withdrawn and frees its slot.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := c.Edit(ctx, "c1", "7", "edited"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("edit while offline with a short ctx: %v, want deadline exceeded", err)
	}
	if n := c.Stats().Queued; n != 3 {
		t.Errorf("queued = %d, want 3 (the edit was withdrawn)", n)
	}

	if _, err := c.SendAsync("c1", "four", WithClientID("mine"), WithReplyTo("12")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendAsync("c1", "five"); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("fifth send: %v, want ErrQueueFull", err)
	}
	if err := c.Read(context.Background(), "c1", 3); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("read on a full queue: %v, want ErrQueueFull", err)
	}

	fs := queuedFrames(c)
	var bodies, refs []string
	for _, f := range fs {
		bodies, refs = append(bodies, f.Body), append(refs, f.Ref)
		if f.Type != parley.FrameSend || f.ConversationID != "c1" {
			t.Errorf("frame %+v", f)
		}
	}
	if diff := cmp.Diff([]string{"one", "two", "three", "four"}, bodies); diff != "" {
		t.Errorf("queue order (-want +got):\n%s", diff)
	}
	if fs[0].ClientID != ps[0].ClientID() || len(fs[0].ClientID) != 32 || fs[0].ClientID == fs[1].ClientID {
		t.Errorf("generated client ids %q, %q", fs[0].ClientID, fs[1].ClientID)
	}
	if fs[3].ClientID != "mine" || fs[3].ReplyTo == nil || *fs[3].ReplyTo != "12" {
		t.Errorf("options not applied: %+v", fs[3])
	}
	if refs[0] == refs[1] || refs[0] == "" {
		t.Errorf("refs %v are not unique", refs)
	}
	if _, err := ps[0].Result(); err == nil {
		t.Error("Result before an answer: no error")
	}

	// Unqueued frames need a socket.
	if _, err := c.Ping(context.Background()); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Ping offline: %v", err)
	}
	if err := c.Typing(context.Background(), "c1"); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Typing offline: %v", err)
	}

	// Close fails what is queued and closes Events.
	c.Close()
	for _, p := range ps {
		<-p.Done()
		if _, err := p.Result(); !errors.Is(err, ErrClosed) {
			t.Errorf("queued send after Close: %v, want ErrClosed", err)
		}
	}
	if _, ok := <-c.Events(); ok {
		t.Error("Events still open after Close")
	}
	if _, err := c.SendAsync("c1", "late"); !errors.Is(err, ErrClosed) {
		t.Errorf("send after Close: %v, want ErrClosed", err)
	}
	if err := c.WaitConnected(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitConnected after Close: %v", err)
	}
	if c.State() != StateClosed || !errors.Is(c.Err(), ErrClosed) {
		t.Errorf("state %v, err %v", c.State(), c.Err())
	}
}

func TestFrameTooLarge(t *testing.T) {
	c := offlineConn(t, ConnOptions{})
	_, err := c.SendAsync("c1", strings.Repeat("x", parley.MaxFrameBytes))
	if parley.ErrorCode(err) != parley.CodeTooLarge {
		t.Fatalf("oversized send: %v, want too_large", err)
	}
	if n := c.Stats().Queued; n != 0 {
		t.Errorf("queued = %d, want 0", n)
	}
}

// TestReconnectRoundRobin runs the reconnect loop against endpoints where
// nothing listens: each failed dial moves to the next endpoint, and
// GoOffline stops the attempts.
func TestReconnectRoundRobin(t *testing.T) {
	a, b := "http://"+closedAddr(t), "http://"+closedAddr(t)
	c := offlineConn(t, ConnOptions{Endpoints: []string{a, b}, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	wa, _ := wsURL(a)
	wb, _ := wsURL(b)
	if got := c.Endpoint(); got != wa {
		t.Fatalf("first endpoint %q, want %q", got, wa)
	}
	c.GoOnline()
	seen := map[string]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for !(seen[wa] && seen[wb]) {
		if time.Now().After(deadline) {
			t.Fatalf("endpoints tried: %v", seen)
		}
		seen[c.Endpoint()] = true
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.WaitConnected(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last error") {
		t.Errorf("WaitConnected with nothing listening: %v", err)
	}

	c.GoOffline()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.WaitState(ctx, StateOffline); err != nil {
		t.Fatal(err)
	}
}
