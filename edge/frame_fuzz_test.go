package edge

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/parley-im/parley"
)

// knownCodes are the codes of docs/protocol.md's error table.
var knownCodes = map[parley.Code]bool{
	parley.CodeInvalid: true, parley.CodeUnauthorized: true, parley.CodeForbidden: true,
	parley.CodeNotFound: true, parley.CodeConflict: true, parley.CodeTooLarge: true,
	parley.CodeRateLimited: true, parley.CodeInternal: true,
}

// checkDomainError fails unless err is nil or a *parley.Error with a known,
// user-facing (non-internal) code and a message that is shown as is.
func checkDomainError(t *testing.T, what string, err error) parley.Code {
	t.Helper()
	if err == nil {
		return ""
	}
	var pe *parley.Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s: %T %v is not a *parley.Error", what, err, err)
	}
	if !knownCodes[pe.Code] || pe.Code == parley.CodeInternal {
		t.Fatalf("%s: code %q, want a known client-error code", what, pe.Code)
	}
	if pe.Message == "" || parley.ErrorMessage(err) != pe.Message {
		t.Fatalf("%s: message %q shown as %q", what, pe.Message, parley.ErrorMessage(err))
	}
	return pe.Code
}

// checkBody holds ValidateBody to the limits of docs/protocol.md, stated
// independently: too_large over 16 KiB, else invalid when empty, not UTF-8
// or holding NUL, else accepted.
func checkBody(t *testing.T, body string) {
	t.Helper()
	code := checkDomainError(t, "ValidateBody", parley.ValidateBody(body))
	var want parley.Code
	switch {
	case len(body) > 16384:
		want = parley.CodeTooLarge
	case body == "" || !utf8.ValidString(body) || strings.ContainsRune(body, 0):
		want = parley.CodeInvalid
	}
	if code != want {
		t.Fatalf("ValidateBody(%d bytes %q...) = %q, want %q", len(body), trim(body), code, want)
	}
}

// checkClientID holds ValidateClientID to "1 to 128 printable ASCII
// characters without spaces".
func checkClientID(t *testing.T, id string) {
	t.Helper()
	code := checkDomainError(t, "ValidateClientID", parley.ValidateClientID(id))
	ok := len(id) >= 1 && len(id) <= 128
	for _, r := range []byte(id) {
		ok = ok && r > 0x20 && r < 0x7f
	}
	if want := map[bool]parley.Code{true: "", false: parley.CodeInvalid}[ok]; code != want {
		t.Fatalf("ValidateClientID(%q) = %q, want %q", trim(id), code, want)
	}
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

// FuzzDecodeFrame feeds arbitrary bytes through what the socket reader does
// with a text message (conn.handle): decode a ClientFrame, then validate
// its body, client_id and cursor. Nothing may panic; every refusal is a
// domain error with a client-error code; a decoded frame encodes and
// decodes back to itself, so what a client sends is what the edge sees.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"resume","ref":"resume","cursor":"MS40MjEuNw"}`,
		`{"type":"send","ref":"r1","conversation_id":"c7k2","client_id":"9f1c0d3e5b7a48e2a1c4d6f8b0e2a4c6","body":"hello"}`,
		`{"type":"send","ref":"r2","conversation_id":"c7k2","client_id":"0b1d","body":"yes","reply_to":"412"}`,
		`{"type":"edit","ref":"r3","conversation_id":"c7k2","message_id":"412","body":"hello!"}`,
		`{"type":"read","ref":"r6","conversation_id":"c7k2","seq":415}`,
		`{"type":"react","ref":"r5","conversation_id":"c7k2","message_id":"412","emoji":"👍"}`,
		`{"type":"ping","ref":"r7"}`,
		`{"type":"send","client_id":"a b","body":""}`,
		`{"type":"send","client_id":"x","body":"a\u0000b"}`,
		`{"type":"send","client_id":"x","body":"\ud800"}`,
		"{\"type\":\"send\",\"client_id\":\"x\",\"body\":\"a\xffb\"}",
		`{"type":"send","body":"` + strings.Repeat("x", 16385) + `"}`,
		`{"type":"read","seq":-1}`,
		`{"type":"read","seq":18446744073709551616}`,
		`{"type":7}`,
		`{"reply_to":null}`,
		`null`, `[]`, `{`, ``, `"ping"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The validators take any string, not only what JSON decoding yields.
		checkBody(t, string(data))
		checkClientID(t, string(data))

		var fr parley.ClientFrame
		if err := json.Unmarshal(data, &fr); err != nil {
			return // the reader answers invalid "malformed frame"
		}
		checkBody(t, fr.Body)
		checkClientID(t, fr.ClientID)
		if fr.Cursor != "" {
			if _, err := decodeCursor(fr.Cursor); err != nil && checkDomainError(t, "decodeCursor", err) != parley.CodeInvalid {
				t.Fatalf("decodeCursor(%q): %v, want invalid", trim(fr.Cursor), err)
			}
		}
		if fr.ReplyTo != nil {
			if _, err := parley.ParseMessageID(*fr.ReplyTo); err != nil {
				checkDomainError(t, "ParseMessageID", err)
			}
		}
		b, err := json.Marshal(fr)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", fr, err)
		}
		var again parley.ClientFrame
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("decode re-encoded %s: %v", b, err)
		}
		if diff := cmp.Diff(fr, again); diff != "" {
			t.Fatalf("frame changed in a round trip (-first +second):\n%s", diff)
		}
	})
}
