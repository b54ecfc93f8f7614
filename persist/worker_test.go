package persist_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/persist"
	"github.com/parley-im/parley/persist/pgtest"
	"github.com/parley-im/parley/streams"
	"github.com/parley-im/parley/streams/localnats"
)

// bus is a JetStream server of the test's own with Parley's streams under a
// random prefix.
type bus struct {
	url    string
	layout streams.Layout
	js     jetstream.JetStream // for publishing and inspecting
}

func newBus(t testing.TB) *bus {
	t.Helper()
	ns, err := localnats.Start(localnats.Options{Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	var p [4]byte
	rand.Read(p[:])
	b := &bus{url: ns.ClientURL(), layout: streams.Layout{Prefix: "T" + hex.EncodeToString(p[:])}}
	b.js = b.connect(t)
	ctx := context.Background()
	if err := b.layout.Setup(ctx, b.js, streams.Config{}); err != nil {
		t.Fatal(err)
	}
	// A short AckWait, so that what a killed worker held comes back soon.
	cfg := b.layout.PersistConsumer()
	cfg.AckWait = time.Second
	if _, err := b.js.CreateOrUpdateConsumer(ctx, b.layout.ConvStream(), cfg); err != nil {
		t.Fatal(err)
	}
	return b
}

// connect returns a JetStream context on a connection of its own.
func (b *bus) connect(t testing.TB) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(b.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func (b *bus) publish(t testing.TB, ev parley.Event, msgID string) {
	t.Helper()
	m, err := streams.NewMsg(b.layout.Conv(ev.ConversationID), &ev, msgID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func (b *bus) publishRaw(t testing.TB, cid string, data []byte) {
	t.Helper()
	if _, err := b.js.Publish(context.Background(), string(b.layout.Conv(cid)), data); err != nil {
		t.Fatal(err)
	}
}

func (b *bus) consumer(t testing.TB) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := b.js.Consumer(context.Background(), b.layout.ConvStream(), streams.DurablePersist)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// running is a worker started by startWorker.
type running struct {
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error
	reg    *prometheus.Registry
	once   sync.Once
}

// kill cuts the worker's NATS connection at once, as a crash would (its
// fetched batches are never acked), then stops it.
func (r *running) kill(t testing.TB) {
	t.Helper()
	r.nc.Close()
	r.stop(t)
}

// stop cancels the worker's context and waits for Run to return.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("worker: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("worker did not stop")
		}
	})
}

func startWorker(t testing.TB, b *bus, s *persist.Store, batch int) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	js := b.connect(t)
	r := &running{nc: js.Conn(), cancel: cancel, done: make(chan error, 1), reg: prometheus.NewRegistry()}
	w := persist.NewWorker(persist.WorkerConfig{
		Store: s, JS: js, Layout: b.layout, Batch: batch, Metrics: r.reg,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// persisted returns the parley_persisted_events_total of a worker.
func (r *running) persisted(t testing.TB) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "parley_persisted_events_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// waitFor polls cond until it holds, failing after a while.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func openDB(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func count(t testing.TB, db *pgx.Conn, sql string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func storeAt(t testing.TB, url string) *persist.Store {
	t.Helper()
	s, err := persist.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// publishMessages publishes n message.new events over convs conversations.
func publishMessages(t testing.TB, b *bus, n, convs int) {
	t.Helper()
	for i := range n {
		cid := fmt.Sprintf("c%d", i%convs)
		b.publish(t, parley.Event{
			Kind: parley.EventMessageNew, ConversationID: cid, ActorID: "u", At: time.Now(),
			Message: &parley.Message{SenderID: "u", ClientID: fmt.Sprint(i), Body: fmt.Sprint("body ", i)},
		}, streams.MsgID("u", cid, fmt.Sprint(i)))
	}
}

// checkExactlyOnce checks that every one of n messages is stored once.
func checkExactlyOnce(t testing.TB, db *pgx.Conn, n int) {
	t.Helper()
	for _, q := range []string{
		`SELECT count(*) FROM messages`,
		`SELECT count(DISTINCT seq) FROM messages`,
		`SELECT count(DISTINCT client_id) FROM messages`,
		`SELECT count(*) FROM conv_events`,
		`SELECT count(*) FROM conv_events e JOIN messages m ON m.conversation_id = e.conversation_id AND m.seq = e.seq`,
	} {
		if got := count(t, db, q); got != n {
			t.Errorf("%s = %d, want %d", q, got, n)
		}
	}
}

func TestWorkersShareTheDurable(t *testing.T) {
	t.Parallel()
	const n = 400
	b := newBus(t)
	url := pgtest.URL(t)
	s, db := storeAt(t, url), openDB(t, url)
	w1, w2 := startWorker(t, b, s, 25), startWorker(t, b, storeAt(t, url), 25)
	// Both have a pull request waiting before anything is published.
	waitFor(t, "two waiting pull requests", func() bool { return b.consumer(t).NumWaiting >= 2 })
	publishMessages(t, b, n, 7)
	waitFor(t, "every message stored", func() bool { return count(t, db, `SELECT count(*) FROM messages`) >= n })
	waitFor(t, "every message acked", func() bool {
		info := b.consumer(t)
		return info.NumAckPending == 0 && info.NumPending == 0
	})
	checkExactlyOnce(t, db, n)
	p1, p2 := w1.persisted(t), w2.persisted(t)
	if p1 == 0 || p2 == 0 || p1+p2 < n {
		t.Errorf("workers persisted %v and %v events, want both > 0 and %d in all", p1, p2, n)
	}
	// Per-conversation activity and read markers follow.
	if got := count(t, db, `SELECT count(*) FROM conv_events WHERE conversation_id = 'c0'`); got != (n+6)/7 {
		t.Errorf("c0 has %d events, want %d", got, (n+6)/7)
	}
}

func TestWorkerKilledAndRestarted(t *testing.T) {
	t.Parallel()
	const n = 1000
	b := newBus(t)
	url := pgtest.URL(t)
	db := openDB(t, url)
	publishMessages(t, b, n, 5)

	first := startWorker(t, b, storeAt(t, url), 50)
	waitFor(t, "some messages stored", func() bool { return count(t, db, `SELECT count(*) FROM messages`) > 0 })
	first.kill(t) // mid-stream: its fetched, unwritten batches are never acked
	stored := count(t, db, `SELECT count(*) FROM messages`)
	t.Logf("killed the first worker after %d of %d messages", stored, n)

	startWorker(t, b, storeAt(t, url), 50)
	waitFor(t, "every message stored", func() bool { return count(t, db, `SELECT count(*) FROM messages`) >= n })
	waitFor(t, "every message acked", func() bool {
		info := b.consumer(t)
		return info.NumAckPending == 0 && info.NumPending == 0
	})
	checkExactlyOnce(t, db, n)
}

func TestWorkerTerminatesPoison(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	url := pgtest.URL(t)
	s, db := storeAt(t, url), openDB(t, url)
	good := func(i int, body string) parley.Event {
		return parley.Event{Kind: parley.EventMessageNew, ConversationID: "c", ActorID: "u", At: time.Now(),
			Message: &parley.Message{SenderID: "u", ClientID: fmt.Sprint(i), Body: body}}
	}
	b.publish(t, good(1, "one"), "")
	b.publishRaw(t, "c", []byte("{not json"))
	b.publish(t, good(2, "two"), "")
	b.publishRaw(t, "c", []byte(`{"v": 99, "kind": "message.new"}`))
	b.publish(t, good(3, "NUL \x00 that Postgres cannot store"), "")
	b.publish(t, good(4, "four"), "")
	startWorker(t, b, s, 100)
	waitFor(t, "every message handled", func() bool {
		info := b.consumer(t)
		return info.NumAckPending == 0 && info.NumPending == 0 && info.Delivered.Stream == 6
	})
	if got := count(t, db, `SELECT count(*) FROM messages`); got != 3 {
		t.Errorf("%d messages stored, want 3 (one, two, four)", got)
	}
	ms, err := s.Messages(context.Background(), "c", parley.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := bodies(ms); fmt.Sprint(got) != "[1:one 3:two 6:four]" {
		t.Errorf("stored %v", got)
	}
	// Later events still flow.
	b.publish(t, good(5, "five"), "")
	waitFor(t, "a later message stored", func() bool { return count(t, db, `SELECT count(*) FROM messages`) == 4 })
}

func TestWorkerStopsWithContext(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	r := startWorker(t, b, storeAt(t, pgtest.URL(t)), 0)
	waitFor(t, "a waiting pull request", func() bool { return b.consumer(t).NumWaiting >= 1 })
	r.stop(t)
}
