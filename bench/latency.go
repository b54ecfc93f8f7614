package main

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// latency is a concurrency-safe HDR histogram of durations, recorded in
// microseconds from 1 µs to 10 minutes with 3 significant digits.
type latency struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

func newLatency() *latency {
	return &latency{h: hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3)}
}

func (l *latency) record(d time.Duration) {
	us := max(int64(d/time.Microsecond), 1)
	l.mu.Lock()
	if l.h.RecordValue(us) != nil {
		l.h.RecordValue(l.h.HighestTrackableValue()) // out of range: count it at the top
	}
	l.mu.Unlock()
}

// ms returns the value at quantile q (0-100) in milliseconds.
func (l *latency) ms(q float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.h.TotalCount() == 0 {
		return 0
	}
	return float64(l.h.ValueAtQuantile(q)) / 1000
}

func (l *latency) maxMS() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return float64(l.h.Max()) / 1000
}

func (l *latency) count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.h.TotalCount()
}

// addTo appends p50, p95, p99 and max of l to r, named "<name> p50" and so on.
func (l *latency) addTo(r *result, name string) {
	r.add(name+" p50", "ms", l.ms(50))
	r.add(name+" p95", "ms", l.ms(95))
	r.add(name+" p99", "ms", l.ms(99))
	r.add(name+" max", "ms", l.maxMS())
}
