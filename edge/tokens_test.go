package edge

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
)

var (
	testKey  = []byte("0123456789abcdef0123456789abcdef")
	otherKey = []byte("fedcba9876543210fedcba9876543210")
)

// testTokens returns tokens whose clock the test moves.
func testTokens(tb testing.TB, key []byte, ttl time.Duration, now *time.Time) *tokens {
	tb.Helper()
	t := newTokens(key, ttl)
	t.now = func() time.Time { return *now }
	return t
}

func TestAccessToken(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	issuer := testTokens(t, testKey, 15*time.Minute, &now)
	tok, exp, err := issuer.issue("u1")
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(15 * time.Minute); !exp.Equal(want) {
		t.Errorf("expires %v, want %v", exp, want)
	}
	ticket, _, err := issuer.issueTicket("u1")
	if err != nil {
		t.Fatal(err)
	}
	body, sig, _ := strings.Cut(tok, ".")

	for _, tc := range []struct {
		name    string
		tok     string
		key     []byte
		at      time.Time
		wantUID string // "" wants unauthorized
	}{
		{name: "valid", tok: tok, key: testKey, at: now, wantUID: "u1"},
		{name: "just before expiry", tok: tok, key: testKey, at: now.Add(15*time.Minute - time.Second), wantUID: "u1"},
		{name: "expired", tok: tok, key: testKey, at: now.Add(15 * time.Minute)},
		{name: "long expired", tok: tok, key: testKey, at: now.Add(48 * time.Hour)},
		{name: "wrong key", tok: tok, key: otherKey, at: now},
		{name: "tampered claims", tok: tamper(t, body, `"sub":"u1"`, `"sub":"u2"`) + "." + sig, key: testKey, at: now},
		{name: "tampered signature", tok: body + "." + flipLast(sig), key: testKey, at: now},
		{name: "no signature", tok: body, key: testKey, at: now},
		{name: "empty signature", tok: body + ".", key: testKey, at: now},
		{name: "empty", tok: "", key: testKey, at: now},
		{name: "garbage", tok: "not.a-token", key: testKey, at: now},
		{name: "ticket as access token", tok: ticket, key: testKey, at: now},
		{name: "oversized", tok: strings.Repeat("a", maxTokenBytes+1), key: testKey, at: now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := tc.at
			uid, err := testTokens(t, tc.key, 15*time.Minute, &at).verify(tc.tok)
			if tc.wantUID != "" {
				if err != nil || uid != tc.wantUID {
					t.Errorf("verify = %q, %v; want %q", uid, err, tc.wantUID)
				}
				return
			}
			if !errors.Is(err, parley.ErrUnauthorized) {
				t.Errorf("verify = %q, %v; want unauthorized", uid, err)
			}
		})
	}
}

// tamper decodes a token's claims, replaces old with new and re-encodes
// them, keeping the original signature.
func tamper(tb testing.TB, body, old, new string) string {
	tb.Helper()
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		tb.Fatal(err)
	}
	if !strings.Contains(string(payload), old) {
		tb.Fatalf("claims %s lack %s", payload, old)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), old, new, 1)))
}

func flipLast(s string) string {
	last := s[len(s)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return s[:len(s)-1] + string(repl)
}

func TestTicket(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	issuer := testTokens(t, testKey, 15*time.Minute, &now)
	ticket, exp, err := issuer.issueTicket("u1")
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(ticketTTL); !exp.Equal(want) {
		t.Errorf("ticket expires %v, want %v", exp, want)
	}
	other, _, err := issuer.issueTicket("u1")
	if err != nil {
		t.Fatal(err)
	}
	access, _, err := issuer.issue("u1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tok  string
		at   time.Time
		ok   bool
	}{
		{"valid", ticket, now, true},
		{"expired", ticket, now.Add(ticketTTL), false},
		{"access token as ticket", access, now, false},
		{"garbage", "x.y", now, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := tc.at
			c, err := testTokens(t, testKey, 15*time.Minute, &at).verifyTicket(tc.tok)
			if tc.ok {
				if err != nil || c.Sub != "u1" || c.Nonce == "" {
					t.Errorf("verifyTicket = %+v, %v", c, err)
				}
				return
			}
			if !errors.Is(err, parley.ErrUnauthorized) {
				t.Errorf("verifyTicket = %+v, %v; want unauthorized", c, err)
			}
		})
	}
	c1, _ := issuer.verifyTicket(ticket)
	c2, _ := issuer.verifyTicket(other)
	if c1.Nonce == c2.Nonce {
		t.Errorf("two tickets share the nonce %q", c1.Nonce)
	}
}

func TestRefreshToken(t *testing.T) {
	tok, hash, err := newRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	if !wellFormedRefreshToken(tok) {
		t.Errorf("new refresh token %q is not well formed", tok)
	}
	if string(hash) != string(hashRefreshToken(tok)) {
		t.Error("hash of a new refresh token differs from hashRefreshToken")
	}
	tok2, _, err := newRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	if tok == tok2 {
		t.Error("two refresh tokens are equal")
	}
	for _, bad := range []string{"", "short", tok + "A", strings.Repeat("!", len(tok))} {
		if wellFormedRefreshToken(bad) {
			t.Errorf("wellFormedRefreshToken(%q) = true", bad)
		}
	}
	fam, err := newFamilyID()
	if err != nil {
		t.Fatal(err)
	}
	if len(fam) != 36 || fam[14] != '4' || strings.Count(fam, "-") != 4 {
		t.Errorf("family id %q is not a version 4 UUID", fam)
	}
}
