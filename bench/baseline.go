package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/persist"
	"github.com/parley-im/parley/streams"
)

// runBaseline measures the parts alone: see baseline.
func runBaseline(ctx context.Context, c config, e *env) (result, error) {
	n := c.Users - c.Users%2
	return baseline(ctx, c, e, n/2+n/c.GroupSize)
}

// baseline measures, on the same machine and in the same run, what the parts
// under Parley do alone, each for c.BaselineDuration:
//
//   - JetStream: asynchronous publishes of message.new envelopes of the
//     benchmark's body size, as the edge builds them (streams.NewMsg, with a
//     Nats-Msg-Id), to a layout of their own (prefix BENCH) set up exactly
//     as Parley's (streams.Layout.Setup: republish, duplicate window),
//     spread over convs conversations;
//   - Postgres: persist.Store.WriteEvents with batches of 500 message.new
//     events from as many writers as there are persist workers, into a
//     database of its own on the same server.
func baseline(ctx context.Context, c config, e *env, convs int) (result, error) {
	var r result
	js, err := baselineJetStream(ctx, c, e, convs)
	if err != nil {
		return nil, err
	}
	r.add("baseline: JetStream publish", "msg/s", js)
	pg, err := baselinePostgres(ctx, c, e, convs)
	if err != nil {
		return nil, err
	}
	r.add("baseline: Postgres insert", "msg/s", pg)
	return r, nil
}

// baselineEvent returns a message.new event like the edge's.
func baselineEvent(c config, cid string, i int) *parley.Event {
	at := time.Now().UTC()
	body := strings.Repeat("x", c.BodyBytes)
	return &parley.Event{
		Kind: parley.EventMessageNew, ConversationID: cid, ActorID: "baselineuser0000000000", At: at,
		Message: &parley.Message{ConversationID: cid, ClientID: "c" + strconv.Itoa(i), SenderID: "baselineuser0000000000", Body: body, CreatedAt: at},
	}
}

func baselineJetStream(ctx context.Context, c config, e *env, convs int) (float64, error) {
	nc, err := nats.Connect(e.natsURL, nats.Name("parley-bench-baseline"))
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return 0, err
	}
	layout := streams.Layout{Prefix: "BENCH"}
	if err := layout.Setup(ctx, js, streams.Config{}); err != nil {
		return 0, err
	}
	defer func() {
		js.DeleteStream(context.WithoutCancel(ctx), layout.ConvStream())
		js.DeleteStream(context.WithoutCancel(ctx), layout.UserStream())
	}()
	cids := make([]string, convs)
	for i := range cids {
		cids[i] = fmt.Sprintf("baselineconv%08d", i)
	}
	var acked, failed atomic.Int64
	stop := ticker(c, func() string { return fmt.Sprintf("baseline: JetStream publish: %d acked", acked.Load()) })
	defer stop()
	start := time.Now()
	end := start.Add(c.BaselineDuration)
	var wg sync.WaitGroup
	sent := 0
	for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
		cid := cids[i%len(cids)]
		m, err := streams.NewMsg(layout.Conv(cid), baselineEvent(c, cid, i), streams.MsgID("baselineuser0000000000", cid, "c"+strconv.Itoa(i)))
		if err != nil {
			return 0, err
		}
		f, err := js.PublishMsgAsync(m)
		for errors.Is(err, jetstream.ErrTooManyStalledMsgs) && ctx.Err() == nil {
			// The server is behind: wait for the window to empty, then retry.
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Second):
			}
			f, err = js.PublishMsgAsync(m)
		}
		if err != nil {
			return 0, fmt.Errorf("publish: %w", err)
		}
		sent++
		wg.Go(func() {
			select {
			case <-f.Ok():
				acked.Add(1)
			case <-f.Err():
				failed.Add(1)
			}
		})
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		return 0, errors.New("publishes not acknowledged within 30s")
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	if failed.Load() > 0 {
		return 0, fmt.Errorf("%d of %d publishes failed", failed.Load(), sent)
	}
	return float64(acked.Load()) / el, nil
}

func baselinePostgres(ctx context.Context, c config, e *env, convs int) (float64, error) {
	db := "bench_baseline_" + runTag()
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		return 0, err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+db)
	conn.Close(ctx)
	if err != nil {
		return 0, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(e.dbURL)
	if err != nil {
		return 0, err
	}
	u.Path = "/" + db
	store, err := persist.Open(ctx, u.String())
	if err != nil {
		return 0, err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return 0, err
	}
	const batch = 500
	var written atomic.Int64
	var seq atomic.Uint64
	stop := ticker(c, func() string { return fmt.Sprintf("baseline: Postgres insert: %d written", written.Load()) })
	defer stop()
	start := time.Now()
	end := start.Add(c.BaselineDuration)
	var wg sync.WaitGroup
	errs := make([]error, c.Workers)
	for w := range c.Workers {
		wg.Go(func() {
			evs := make([]parley.Event, batch)
			for time.Now().Before(end) && ctx.Err() == nil {
				for j := range evs {
					s := seq.Add(1)
					cid := fmt.Sprintf("baselineconv%08d", int(s)%convs)
					evs[j] = *baselineEvent(c, cid, int(s))
					evs[j].Seq = s
				}
				if err := store.WriteEvents(ctx, evs); err != nil {
					errs[w] = err
					return
				}
				written.Add(batch)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return float64(written.Load()) / time.Since(start).Seconds(), nil
}
