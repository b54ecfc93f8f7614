package parley

import (
	"strings"
	"unicode/utf8"
)

// Limits on what clients may send.
const (
	MaxBodyBytes     = 16 << 10 // a message body
	MaxFrameBytes    = 64 << 10 // one WebSocket frame; larger closes the socket with 1009
	MaxClientIDBytes = 128
	MaxTitleRunes    = 200
	MaxDisplayRunes  = 64
	MaxGroupMembers  = 10000
	MinPasswordRunes = 8
	MaxPasswordBytes = 1024
)

// ValidUsername reports whether s is 3–32 of a-z, 0-9 and _.
func ValidUsername(s string) bool {
	if len(s) < 3 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ValidatePassword checks a new password's length.
func ValidatePassword(p string) error {
	if utf8.RuneCountInString(p) < MinPasswordRunes || len(p) > MaxPasswordBytes {
		return Errorf(CodeInvalid, "password must be %d to %d characters", MinPasswordRunes, MaxPasswordBytes)
	}
	return nil
}

// ValidateBody checks a message body: non-empty valid UTF-8 of at most
// MaxBodyBytes. An oversized body is too_large, not invalid.
func ValidateBody(body string) error {
	if len(body) > MaxBodyBytes {
		return Errorf(CodeTooLarge, "body is larger than %d bytes", MaxBodyBytes)
	}
	if body == "" {
		return Errorf(CodeInvalid, "body is empty")
	}
	if !utf8.ValidString(body) {
		return Errorf(CodeInvalid, "body is not valid UTF-8")
	}
	if strings.IndexByte(body, 0) >= 0 {
		return Errorf(CodeInvalid, "body contains a NUL character")
	}
	return nil
}

// ValidateClientID checks a client_id: 1 to MaxClientIDBytes printable ASCII
// characters, so that it can serve as a Nats-Msg-Id.
func ValidateClientID(id string) error {
	if id == "" || len(id) > MaxClientIDBytes {
		return Errorf(CodeInvalid, "client_id must be 1 to %d characters", MaxClientIDBytes)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return Errorf(CodeInvalid, "client_id must be printable ASCII without spaces")
		}
	}
	return nil
}

// ValidateTitle checks a group title: 1 to MaxTitleRunes characters.
func ValidateTitle(t string) error {
	n := utf8.RuneCountInString(t)
	if n == 0 || n > MaxTitleRunes || !utf8.ValidString(t) {
		return Errorf(CodeInvalid, "title must be 1 to %d characters", MaxTitleRunes)
	}
	return nil
}
