package edge

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordParams sets the cost of argon2id password hashing. Each zero field
// picks the production value beside it (the OWASP recommendation for
// argon2id); tests set low values to stay fast. A hash records the
// parameters it was made with, so changing them affects new hashes only.
type PasswordParams struct {
	Time      uint32 // passes over memory; 0: 2
	MemoryKiB uint32 // memory in KiB; 0: 19456 (19 MiB)
	Threads   uint8  // parallelism; 0: 1
}

func (p PasswordParams) withDefaults() PasswordParams {
	if p.Time == 0 {
		p.Time = 2
	}
	if p.MemoryKiB == 0 {
		p.MemoryKiB = 19 << 10
	}
	if p.Threads == 0 {
		p.Threads = 1
	}
	return p
}

const (
	passwordSaltBytes = 16
	passwordKeyBytes  = 32
)

var b64 = base64.RawStdEncoding // the PHC string format's base64

// hashPassword returns the PHC-style encoding of password's argon2id hash:
// $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<hash>.
func hashPassword(p PasswordParams, password string) ([]byte, error) {
	p = p.withDefaults()
	salt := make([]byte, passwordSaltBytes)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, passwordKeyBytes)
	return fmt.Appendf(nil, "$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// errBadHash reports a stored password hash this build cannot read.
var errBadHash = errors.New("malformed password hash")

// verifyPassword reports whether password matches encoded, a hash made by
// hashPassword, comparing in constant time. An error means the stored hash
// is unreadable, never that the password is wrong.
func verifyPassword(encoded []byte, password string) (bool, error) {
	p, salt, want, err := parsePasswordHash(string(encoded))
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func parsePasswordHash(s string) (p PasswordParams, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, fmt.Errorf("%w: version %q", errBadHash, parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil ||
		p.MemoryKiB == 0 || p.Time == 0 || p.Threads == 0 {
		return p, nil, nil, fmt.Errorf("%w: parameters %q", errBadHash, parts[3])
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) == 0 {
		return p, nil, nil, fmt.Errorf("%w: salt", errBadHash)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 {
		return p, nil, nil, fmt.Errorf("%w: key", errBadHash)
	}
	return p, salt, key, nil
}

// wastePasswordHash spends what verifying a password costs, so that a login
// for an unknown username takes as long as one with a wrong password.
func wastePasswordHash(p PasswordParams, password string) {
	p = p.withDefaults()
	var salt [passwordSaltBytes]byte
	argon2.IDKey([]byte(password), salt[:], p.Time, p.MemoryKiB, p.Threads, passwordKeyBytes)
}
