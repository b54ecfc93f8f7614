package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-im/parley/streams"
	"github.com/parley-im/parley/streams/localnats"
)

// The cost of --sync-always, quoted in the README:
//
//	go test ./cmd/parley -run '^$' -bench 'Publish' -benchtime 20000x -count 5
//
// Each benchmark publishes 1 KiB events to the CONV stream of an embedded
// server (file store in a temporary directory) with async publish, spread
// over 64 conversations, and reports acknowledged messages per second.

func BenchmarkPublishDefault(b *testing.B)    { benchmarkPublish(b, false) }
func BenchmarkPublishSyncAlways(b *testing.B) { benchmarkPublish(b, true) }

func benchmarkPublish(b *testing.B, syncAlways bool) {
	ns, err := localnats.Start(localnats.Options{Dir: b.TempDir(), Port: -1, SyncAlways: syncAlways})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var layout streams.Layout
	if err := layout.Setup(ctx, js, streams.Config{}); err != nil {
		b.Fatal(err)
	}
	subjects := make([]string, 64)
	for i := range subjects {
		subjects[i] = layout.Conv(fmt.Sprintf("bench-conv-%d", i)).String()
	}
	payload := make([]byte, 1024)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}

	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if _, err := js.PublishAsync(subjects[i%len(subjects)], payload, jetstream.WithStallWait(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		b.Fatal("publishes not acknowledged in time")
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	// Every publish was acknowledged: none failed.
	info, err := js.Stream(ctx, layout.ConvStream())
	if err != nil {
		b.Fatal(err)
	}
	if got := info.CachedInfo().State.Msgs; got != uint64(b.N) {
		b.Fatalf("stream holds %d messages, want %d", got, b.N)
	}
}
