package client

import (
	"math/rand/v2"
	"time"
)

// backoff is the reconnect delay: exponential from min to max, with "equal
// jitter" (a delay d is drawn uniformly from [d/2, d]) so that the clients
// of an edge that goes away do not all come back at the same instant, while
// none waits less than half its share. Not safe for concurrent use; the
// reconnect loop owns it.
type backoff struct {
	min, max time.Duration
	attempt  int
	rand     func(n int64) int64 // uniform in [0, n); rand.Int64N in production
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, rand: rand.Int64N}
}

// next returns the delay before the next attempt and counts the attempt.
func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.attempt && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	b.attempt++
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + time.Duration(b.rand(int64(d-half)+1))
}

// reset starts the schedule over, after a connection that worked.
func (b *backoff) reset() { b.attempt = 0 }
