package edge

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// cheap keeps password tests fast; the format is the same at any cost.
var cheap = PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}

func TestPasswordRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, password, try string
		want                bool
	}{
		{"same", "correct horse battery", "correct horse battery", true},
		{"unicode", "pässwörd–ünicode", "pässwörd–ünicode", true},
		{"wrong", "correct horse battery", "correct horse batterY", false},
		{"prefix", "correct horse battery", "correct horse", false},
		{"empty try", "correct horse battery", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := hashPassword(cheap, tc.password)
			if err != nil {
				t.Fatal(err)
			}
			got, err := verifyPassword(h, tc.try)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("verifyPassword(%q) = %v, want %v", tc.try, got, tc.want)
			}
		})
	}
}

func TestPasswordHashFormat(t *testing.T) {
	h1, err := hashPassword(cheap, "same password")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := hashPassword(cheap, "same password")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(h1, h2) {
		t.Error("two hashes of one password are equal: salt not random")
	}
	if want := "$argon2id$v=19$m=64,t=1,p=1$"; !strings.HasPrefix(string(h1), want) {
		t.Errorf("hash %q does not start with %q", h1, want)
	}
	// The zero value is the production cost, recorded in the hash.
	if p := (PasswordParams{}).withDefaults(); p != (PasswordParams{Time: 2, MemoryKiB: 19456, Threads: 1}) {
		t.Errorf("default params = %+v", p)
	}
}

func TestPasswordMalformedHash(t *testing.T) {
	good, err := hashPassword(cheap, "password1")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(good), "$")
	for _, tc := range []struct{ name, hash string }{
		{"empty", ""},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuuOiW1Zt1dK2l4Dh2Y8V6o5i8XU6o2cO6"},
		{"argon2i", strings.Replace(string(good), "argon2id", "argon2i", 1)},
		{"version", strings.Replace(string(good), "v=19", "v=16", 1)},
		{"zero memory", strings.Replace(string(good), "m=64", "m=0", 1)},
		{"bad salt", strings.Join([]string{"", parts[1], parts[2], parts[3], "!!", parts[5]}, "$")},
		{"short key", strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$")},
		{"missing part", strings.Join(parts[:5], "$")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := verifyPassword([]byte(tc.hash), "password1")
			if ok || !errors.Is(err, errBadHash) {
				t.Errorf("verifyPassword = %v, %v; want false, errBadHash", ok, err)
			}
		})
	}
}
