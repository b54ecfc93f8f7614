package client

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoffSchedule(t *testing.T) {
	tests := []struct {
		name string
		pick func(n int64) int64 // the jitter draw
		want []time.Duration
	}{
		{
			name: "no jitter drawn: half of each step",
			pick: func(int64) int64 { return 0 },
			want: []time.Duration{50, 100, 200, 400, 500, 500},
		},
		{
			name: "largest jitter drawn: the full step",
			pick: func(n int64) int64 { return n - 1 },
			want: []time.Duration{100, 200, 400, 800, 1000, 1000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackoff(100*time.Millisecond, time.Second)
			b.rand = tt.pick
			var got []time.Duration
			for range tt.want {
				got = append(got, b.next()/time.Millisecond)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("delays in ms (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBackoffBoundsAndReset(t *testing.T) {
	b := newBackoff(10*time.Millisecond, 300*time.Millisecond)
	for i := 0; i < 200; i++ {
		d := b.next()
		step := min(10*time.Millisecond<<min(i, 10), 300*time.Millisecond)
		if d < step/2 || d > step {
			t.Fatalf("attempt %d: delay %v outside [%v, %v]", i, d, step/2, step)
		}
	}
	b.reset()
	if d := b.next(); d < 5*time.Millisecond || d > 10*time.Millisecond {
		t.Errorf("after reset: delay %v, want within [5ms, 10ms]", d)
	}
}

func TestBackoffHugeAttempt(t *testing.T) {
	b := newBackoff(time.Second, time.Minute)
	b.attempt = 1 << 20 // doubling must stop at max, not overflow
	if d := b.next(); d < 30*time.Second || d > time.Minute {
		t.Errorf("delay %v, want within [30s, 1m]", d)
	}
}
