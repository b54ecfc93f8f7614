package edge

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    cursor
	}{
		{"zero", cursor{}},
		{"watermarks", cursor{W: 981273, U: 12}},
		{"exceptions", cursor{W: 500, U: 3, X: map[string]uint64{"abc": 17, "zzz": 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeCursor(tc.c.encode())
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if diff := cmp.Diff(tc.c, got); diff != "" {
				t.Fatalf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCursorRejectsGarbage(t *testing.T) {
	for _, s := range []string{"", "!!!", "MQ", "Mi4xLjI", "MS4xLjIueA", "MS41LjIueA"} {
		if _, err := decodeCursor(s); err == nil {
			t.Errorf("decodeCursor(%q) succeeded", s)
		}
	}
}

func FuzzCursor(f *testing.F) {
	f.Add(cursor{W: 10, U: 2, X: map[string]uint64{"a": 3}}.encode())
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			return
		}
		again, err := decodeCursor(c.encode())
		if err != nil {
			t.Fatalf("re-decode of %q: %v", c.encode(), err)
		}
		if diff := cmp.Diff(c, again); diff != "" {
			t.Fatalf("unstable (-first +second):\n%s", diff)
		}
	})
}
