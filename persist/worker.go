package persist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/streams"
)

// WorkerConfig configures a Worker. The zero value of each field picks the
// default beside it, except where it says "required".
type WorkerConfig struct {
	Store  *Store              // required
	JS     jetstream.JetStream // required
	Layout streams.Layout      // zero: the production layout
	// Batch is the most events written in one transaction. 0: 500.
	Batch int
	// Logger receives internal errors and terminated events. nil: slog.Default().
	Logger *slog.Logger
	// Metrics, when set, receives parley_persist_lag (events the durable
	// has not delivered yet) and parley_persisted_events_total. Workers
	// sharing a registry share the metrics. nil: no metrics.
	Metrics *prometheus.Registry
}

// Worker is one consume loop on the persist durable: it pulls batches of
// conversation events, writes each batch to Postgres in one transaction,
// and acks its messages only after the commit. Several workers (in one
// process or many) share the durable and split its messages; writes are
// idempotent, so a redelivered message changes nothing.
//
// Failures: an event that cannot be decoded, or that Postgres rejects as
// invalid data, is logged with its stream sequence and terminated, so it
// never blocks the others. Any other failure (the database is down, a
// deadlock) naks the batch with a growing delay and pauses the worker; the
// durable's MaxDeliver bounds the attempts.
type Worker struct {
	store   *Store
	js      jetstream.JetStream
	layout  streams.Layout
	batch   int
	log     *slog.Logger
	lag     prometheus.Gauge
	written prometheus.Counter
}

// NewWorker returns a worker; call Run.
func NewWorker(cfg WorkerConfig) *Worker {
	w := &Worker{store: cfg.Store, js: cfg.JS, layout: cfg.Layout, batch: cfg.Batch, log: cfg.Logger}
	if w.batch <= 0 {
		w.batch = 500
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	w.log = w.log.With("component", "persist")
	w.lag = register(cfg.Metrics, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "parley_persist_lag",
		Help: "Conversation events stored in the stream and not yet delivered to the persist workers.",
	}))
	w.written = register(cfg.Metrics, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "parley_persisted_events_total",
		Help: "Conversation events written to Postgres by the persist workers (redeliveries included).",
	}))
	return w
}

// register registers c in reg, or returns the collector registered before
// under the same name, so that workers sharing a registry share metrics.
// With no registry, c is returned unregistered.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("persist: register metric: %v", err))
	}
	return c
}

// Run consumes until ctx is done, then returns nil. A consume loop that
// fails (lost heartbeats, the consumer or connection gone) is recreated
// after a pause. When ctx ends, the worker stops pulling, writes and acks
// what it had already fetched (bounded by stopWait), and returns; only a
// worker that dies leaves events to the server's redelivery after AckWait.
func (w *Worker) Run(ctx context.Context) error {
	b := backoff{min: 100 * time.Millisecond, max: 10 * time.Second}
	for {
		err := w.consume(ctx, &b)
		if ctx.Err() != nil {
			return nil
		}
		d := b.next()
		w.log.Warn("consume loop ended; recreating it", "err", err, "retry_in", d)
		if !sleep(ctx, d) {
			return nil
		}
	}
}

// stopWait bounds the write of the batch in hand.
const stopWait = 30 * time.Second

// consume runs one consume loop: it returns when ctx ends or the message
// iterator fails.
func (w *Worker) consume(ctx context.Context, b *backoff) error {
	cons, err := w.js.Consumer(ctx, w.layout.ConvStream(), streams.DurablePersist)
	if err != nil {
		return fmt.Errorf("get consumer: %w", err)
	}
	it, err := cons.Messages(
		jetstream.PullMaxMessages(w.batch),
		jetstream.PullHeartbeat(5*time.Second),
		jetstream.WithMessagesErrOnMissingHeartbeat(true),
	)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer it.Stop()
	// On stop, pull no more; what is buffered is still handed out by Next.
	defer context.AfterFunc(ctx, it.Drain)()
	for {
		first, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		batch := []jetstream.Msg{first}
		// Take what else is buffered already, without waiting for more.
		for len(batch) < w.batch {
			m, err := it.Next(jetstream.NextMaxWait(2 * time.Millisecond))
			if err != nil {
				break // a timeout; a real failure shows on the next first Next
			}
			batch = append(batch, m)
		}
		// A batch in hand is finished even when stopping.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopWait)
		ok := w.handle(wctx, batch)
		cancel()
		if ok {
			b.reset()
			continue
		}
		// A transient failure: pause rather than fail the next batch at once.
		if !sleep(ctx, b.next()) {
			return ctx.Err()
		}
	}
}

// handle writes and acks one batch. It reports false after a transient
// failure, having nak'ed what it could not write.
func (w *Worker) handle(ctx context.Context, batch []jetstream.Msg) bool {
	msgs := make([]jetstream.Msg, 0, len(batch))
	evs := make([]parley.Event, 0, len(batch))
	var lag uint64
	for _, m := range batch {
		ev, meta, err := w.decode(m)
		if err != nil {
			w.terminate(m, meta, err)
			continue
		}
		msgs, evs = append(msgs, m), append(evs, *ev)
		lag = meta.NumPending
	}
	w.lag.Set(float64(lag))
	err := w.store.WriteEvents(ctx, evs)
	switch {
	case err == nil:
		w.ack(msgs)
		return true
	case ctx.Err() != nil:
		return true // stopping: the server redelivers what was not acked
	case !invalidData(err):
		w.log.Error("write batch failed; retrying later", "events", len(evs), "err", err)
		w.nak(msgs)
		return false
	}
	// Postgres refused some event as invalid: find it by writing the
	// events one by one, and terminate only the ones it refuses.
	ok := true
	for i, m := range msgs {
		err := w.store.WriteEvents(ctx, evs[i:i+1])
		switch {
		case err == nil:
			w.ack(msgs[i : i+1])
		case ctx.Err() != nil:
			return true
		case invalidData(err):
			meta, _ := m.Metadata()
			w.terminate(m, meta, err)
		default:
			w.nak(msgs[i : i+1])
			ok = false
		}
	}
	return ok
}

// decode returns the event of m with its stream sequence and its
// conversation, taken from the subject it was stored under.
func (w *Worker) decode(m jetstream.Msg) (*parley.Event, *jetstream.MsgMetadata, error) {
	meta, err := m.Metadata()
	if err != nil {
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	ev, err := streams.Decode(m.Data())
	if err != nil {
		return nil, meta, err
	}
	cid, ok := w.layout.ConversationFromSubject(m.Subject())
	if !ok {
		return nil, meta, fmt.Errorf("not a conversation subject: %q", m.Subject())
	}
	ev.ConversationID, ev.Seq, ev.PrevSeq = cid, meta.Sequence.Stream, 0
	if ev.At.IsZero() {
		ev.At = meta.Timestamp
	}
	return ev, meta, nil
}

func (w *Worker) terminate(m jetstream.Msg, meta *jetstream.MsgMetadata, err error) {
	var seq uint64
	if meta != nil {
		seq = meta.Sequence.Stream
	}
	w.log.Error("terminating an event that cannot be stored", "seq", seq, "subject", m.Subject(), "err", err)
	if terr := m.TermWithReason("persist: " + err.Error()); terr != nil {
		w.log.Warn("term failed", "seq", seq, "err", terr)
	}
}

func (w *Worker) ack(msgs []jetstream.Msg) {
	for _, m := range msgs {
		// A lost ack only means a redelivery, which the writes absorb.
		if err := m.Ack(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			w.log.Warn("ack failed", "err", err)
		}
	}
	w.written.Add(float64(len(msgs)))
}

// nak asks for a redelivery after a delay that grows with each attempt.
func (w *Worker) nak(msgs []jetstream.Msg) {
	for _, m := range msgs {
		n := uint64(1)
		if meta, err := m.Metadata(); err == nil {
			n = meta.NumDelivered
		}
		d := min(time.Second<<min(n-1, 6), time.Minute)
		if err := m.NakWithDelay(d); err != nil {
			w.log.Warn("nak failed", "err", err)
		}
	}
}

// invalidData reports whether Postgres refused the data itself (a value it
// cannot store, such as a NUL byte in text, or a constraint), which no
// retry will change.
func invalidData(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23": // data exception, integrity constraint violation
		return true
	}
	return false
}

// backoff is a doubling delay between min and max.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits for d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
