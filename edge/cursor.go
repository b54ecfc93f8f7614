package edge

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"

	"github.com/parley-im/parley"
)

// cursor is the position of a socket in the event streams. It is opaque to
// clients; they hand back the last one they saw when they resume.
//
// W is a watermark in stream CONV: every event of every conversation of the
// user with seq ≤ W has been delivered, except for the conversations in X,
// whose events have been delivered only up to X[cid]. X is non-empty only
// while a socket catches up on a conversation (just joined, or a gap being
// repaired) or resumes. U is the last event of the user's own subject in
// stream USER that the socket has taken into account.
type cursor struct {
	W, U uint64
	X    map[string]uint64
}

const cursorVersion = "1"

// encode renders the cursor as URL-safe base64 of
// "1.<w>.<u>[.<cid>~<seq>]...", the exceptions sorted by conversation id.
func (c cursor) encode() string {
	b := make([]byte, 0, 32)
	b = append(b, cursorVersion...)
	b = append(b, '.')
	b = strconv.AppendUint(b, c.W, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, c.U, 10)
	if len(c.X) > 0 {
		keys := make([]string, 0, len(c.X))
		for k := range c.X {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = append(b, '.')
			b = append(b, k...)
			b = append(b, '~')
			b = strconv.AppendUint(b, c.X[k], 10)
		}
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// maxCursorBytes bounds what decodeCursor accepts.
const maxCursorBytes = 8 << 10

func decodeCursor(s string) (cursor, error) {
	bad := parley.Errorf(parley.CodeInvalid, "malformed cursor")
	if len(s) > maxCursorBytes {
		return cursor{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) < 3 || parts[0] != cursorVersion {
		return cursor{}, bad
	}
	var c cursor
	if c.W, err = strconv.ParseUint(parts[1], 10, 64); err != nil {
		return cursor{}, bad
	}
	if c.U, err = strconv.ParseUint(parts[2], 10, 64); err != nil {
		return cursor{}, bad
	}
	for _, p := range parts[3:] {
		cid, seq, ok := strings.Cut(p, "~")
		if !ok || cid == "" {
			return cursor{}, bad
		}
		n, err := strconv.ParseUint(seq, 10, 64)
		if err != nil {
			return cursor{}, bad
		}
		if c.X == nil {
			c.X = make(map[string]uint64)
		}
		c.X[cid] = n
	}
	return c, nil
}
