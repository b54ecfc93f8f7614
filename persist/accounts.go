package persist

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parley-im/parley"
)

// uniqueViolation is the SQLSTATE of a unique constraint violation.
const uniqueViolation = "23505"

// isUnique reports whether err is a unique violation of the named constraint.
func isUnique(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == uniqueViolation && pe.ConstraintName == constraint
}

// CreateUser creates an account; conflict if the username is taken.
func (s *Store) CreateUser(ctx context.Context, username, displayName string, passwordHash []byte) (parley.User, error) {
	u := parley.User{ID: newID(), Username: username, DisplayName: displayName}
	err := s.read(ctx, func(q querier) error {
		_, err := q.Exec(ctx, `INSERT INTO users (id, username, display_name, password_hash) VALUES ($1, $2, $3, $4)`,
			u.ID, u.Username, u.DisplayName, passwordHash)
		return err
	})
	if isUnique(err, "users_username_key") {
		return parley.User{}, parley.Errorf(parley.CodeConflict, "username taken")
	}
	if err != nil {
		return parley.User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// UserCredentials returns the user with the username and their password hash.
func (s *Store) UserCredentials(ctx context.Context, username string) (parley.User, []byte, error) {
	var u parley.User
	var hash []byte
	err := s.read(ctx, func(q querier) error {
		return q.QueryRow(ctx, `SELECT id, username, display_name, password_hash FROM users WHERE username = $1`, username).
			Scan(&u.ID, &u.Username, &u.DisplayName, &hash)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return parley.User{}, nil, parley.Errorf(parley.CodeNotFound, "user not found")
	}
	if err != nil {
		return parley.User{}, nil, fmt.Errorf("user credentials: %w", err)
	}
	return u, hash, nil
}

// User returns the user with the id.
func (s *Store) User(ctx context.Context, id string) (parley.User, error) {
	var u parley.User
	err := s.read(ctx, func(q querier) error {
		return q.QueryRow(ctx, `SELECT id, username, display_name FROM users WHERE id = $1`, id).
			Scan(&u.ID, &u.Username, &u.DisplayName)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return parley.User{}, parley.Errorf(parley.CodeNotFound, "user %s not found", id)
	}
	if err != nil {
		return parley.User{}, fmt.Errorf("user: %w", err)
	}
	return u, nil
}

// SearchUsers returns up to limit users (0: 50) whose username or display
// name starts with prefix, ignoring case, ordered by username.
func (s *Store) SearchUsers(ctx context.Context, prefix string, limit int) ([]parley.User, error) {
	var us []parley.User
	err := s.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `
			SELECT id, username, display_name FROM users
			WHERE username LIKE $1 OR lower(display_name) LIKE $1
			ORDER BY username LIMIT $2`, likePrefix(strings.ToLower(prefix)), limitOr(limit, 50))
		if err != nil {
			return err
		}
		us, err = pgx.CollectRows(rows, scanUser)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	return us, nil
}

func scanUser(row pgx.CollectableRow) (parley.User, error) {
	var u parley.User
	err := row.Scan(&u.ID, &u.Username, &u.DisplayName)
	return u, err
}

// CreateRefreshToken stores the hash of a new refresh token of a family
// (one login session).
func (s *Store) CreateRefreshToken(ctx context.Context, userID, familyID string, hash []byte, expires time.Time) error {
	err := s.read(ctx, func(q querier) error {
		_, err := q.Exec(ctx, `INSERT INTO refresh_tokens (hash, user_id, family_id, expires_at) VALUES ($1, $2, $3, $4)`,
			hash, userID, familyID, expires)
		return err
	})
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return nil
}

// RotateRefreshToken replaces the token oldHash by newHash in its family and
// returns its user. An unknown or expired token is unauthorized. A token
// that was already replaced or revoked is being reused, a sign that it was
// stolen: the whole family is revoked, and the answer is unauthorized.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash, newHash []byte, expires time.Time) (string, error) {
	var userID string
	var reused bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var family string
		var exp time.Time
		var replaced, revoked *time.Time
		err := tx.QueryRow(ctx, `
			SELECT user_id, family_id, expires_at, replaced_at, revoked_at
			FROM refresh_tokens WHERE hash = $1 FOR UPDATE`, oldHash).
			Scan(&userID, &family, &exp, &replaced, &revoked)
		if errors.Is(err, pgx.ErrNoRows) {
			return parley.ErrUnauthorized
		}
		if err != nil {
			return err
		}
		if replaced != nil || revoked != nil {
			reused = true
			_, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`, family)
			return err // committed: the revocation must stick
		}
		if !exp.After(time.Now()) {
			return parley.ErrUnauthorized
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET replaced_at = now() WHERE hash = $1`, oldHash); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, user_id, family_id, expires_at) VALUES ($1, $2, $3, $4)`,
			newHash, userID, family, expires)
		return err
	})
	switch {
	case parley.ErrorCode(err) == parley.CodeUnauthorized:
		return "", err
	case err != nil:
		return "", fmt.Errorf("rotate refresh token: %w", err)
	case reused:
		return "", parley.Errorf(parley.CodeUnauthorized, "refresh token reused; session revoked")
	}
	return userID, nil
}

// RevokeRefreshToken ends the session the token belongs to: its whole
// family is revoked. An unknown token is not an error.
func (s *Store) RevokeRefreshToken(ctx context.Context, hash []byte) error {
	err := s.read(ctx, func(q querier) error {
		_, err := q.Exec(ctx, `
			UPDATE refresh_tokens SET revoked_at = now()
			WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE hash = $1) AND revoked_at IS NULL`, hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke refresh token: %w", err)
	}
	return nil
}
