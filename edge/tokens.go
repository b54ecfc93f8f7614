package edge

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-im/parley"
)

// Access tokens and WebSocket tickets are compact signed tokens:
//
//	base64url(JSON claims) "." base64url(HMAC-SHA256(key, first part))
//
// Every edge holding the installation's key verifies them without a
// database round trip. The typ claim keeps the two kinds apart: a ticket is
// never accepted as an access token, nor the reverse.
//
// Refresh tokens are different: 32 random bytes, stored only as their
// SHA-256 in the Store, rotated on every use.

const (
	typAccess = "access"
	typTicket = "ticket"

	// ticketTTL is the lifetime of a WebSocket ticket; streams.TicketBucketTTL
	// must exceed it, so a redeemed nonce is remembered until the ticket
	// could no longer be used anyway.
	ticketTTL = 30 * time.Second

	maxTokenBytes = 2048 // longer tokens are rejected before any work
)

// claims is the signed payload of an access token or a ticket.
type claims struct {
	Sub   string `json:"sub"`
	Exp   int64  `json:"exp"` // unix seconds
	Iat   int64  `json:"iat"` // unix seconds
	Typ   string `json:"typ"`
	Nonce string `json:"nonce,omitempty"` // tickets only
}

// tokens issues and verifies access tokens and tickets. It is immutable
// after construction and safe for concurrent use.
type tokens struct {
	key []byte
	ttl time.Duration
	now func() time.Time // time.Now; replaced in tests
}

func newTokens(key []byte, ttl time.Duration) *tokens {
	return &tokens{key: key, ttl: ttl, now: time.Now}
}

var errBadToken = parley.Errorf(parley.CodeUnauthorized, "invalid or expired token")

// issue returns an access token for uid and when it expires.
func (t *tokens) issue(uid string) (string, time.Time, error) {
	return t.sign(uid, typAccess, t.ttl, "")
}

// verify returns the user id of a valid, unexpired access token, and an
// unauthorized error for anything else.
func (t *tokens) verify(tok string) (string, error) {
	c, err := t.parse(tok, typAccess)
	if err != nil {
		return "", err
	}
	return c.Sub, nil
}

// issueTicket returns a single-use WebSocket ticket for uid, valid for
// ticketTTL, and when it expires.
func (t *tokens) issueTicket(uid string) (string, time.Time, error) {
	nonce, err := randomToken(16)
	if err != nil {
		return "", time.Time{}, err
	}
	return t.sign(uid, typTicket, ticketTTL, nonce)
}

// verifyTicket checks a ticket's signature and expiry and returns its
// claims. It does not make it single use: see Server.redeemTicket.
func (t *tokens) verifyTicket(tok string) (claims, error) {
	c, err := t.parse(tok, typTicket)
	if err == nil && c.Nonce == "" {
		err = errBadToken
	}
	return c, err
}

func (t *tokens) sign(uid, typ string, ttl time.Duration, nonce string) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(ttl).Truncate(time.Second)
	payload, err := json.Marshal(claims{Sub: uid, Exp: exp.Unix(), Iat: now.Unix(), Typ: typ, Nonce: nonce})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("encode token claims: %w", err)
	}
	body := base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(t.mac(body)), exp.UTC(), nil
}

func (t *tokens) mac(body string) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(body))
	return m.Sum(nil)
}

func (t *tokens) parse(tok, typ string) (claims, error) {
	var c claims
	if len(tok) > maxTokenBytes {
		return c, errBadToken
	}
	body, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return c, errBadToken
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, t.mac(body)) {
		return c, errBadToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || json.Unmarshal(payload, &c) != nil {
		return c, errBadToken
	}
	if c.Typ != typ || c.Sub == "" || t.now().Unix() >= c.Exp {
		return c, errBadToken
	}
	return c, nil
}

// redeemTicket verifies a WebSocket ticket and makes it single use across
// every edge: its nonce is created in the ticket bucket, which fails if
// any edge redeemed it before. Entries age out after
// streams.TicketBucketTTL, by which time the ticket has expired.
func (s *Server) redeemTicket(ctx context.Context, tok string) (string, error) {
	c, err := s.tokens.verifyTicket(tok)
	if err != nil {
		return "", err
	}
	kv, err := s.js.KeyValue(ctx, s.layout.TicketBucket())
	if err != nil {
		return "", fmt.Errorf("ticket bucket: %w", err)
	}
	if _, err := kv.Create(ctx, c.Nonce, []byte(c.Sub)); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return "", parley.Errorf(parley.CodeUnauthorized, "ticket already used")
		}
		return "", fmt.Errorf("redeem ticket: %w", err)
	}
	return c.Sub, nil
}

// refreshTokenBytes is the entropy of a refresh token.
const refreshTokenBytes = 32

// newRefreshToken returns a fresh refresh token and the hash to store.
func newRefreshToken() (tok string, hash []byte, err error) {
	tok, err = randomToken(refreshTokenBytes)
	if err != nil {
		return "", nil, err
	}
	return tok, hashRefreshToken(tok), nil
}

// hashRefreshToken returns what the Store keeps of a refresh token.
func hashRefreshToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// wellFormedRefreshToken reports whether tok could have come from
// newRefreshToken, so that garbage is refused without a database query.
func wellFormedRefreshToken(tok string) bool {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	return err == nil && len(b) == refreshTokenBytes
}

// randomToken returns n random bytes, base64url encoded without padding.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// newFamilyID returns a random refresh-token family id, formatted as a
// version 4 UUID so that any column type can hold it.
func newFamilyID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("family id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
