package persist_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parley-im/parley"
)

func TestAccounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	ann, err := s.CreateUser(ctx, "ann", "Ann Arbor", []byte("h1"))
	if err != nil {
		t.Fatal(err)
	}
	bob := mustUser(t, s, "bob_smith")
	mustUser(t, s, "bobby")
	eve, err := s.CreateUser(ctx, "eve", "Bo Peep", []byte("h3"))
	if err != nil {
		t.Fatal(err)
	}

	if _, err := s.CreateUser(ctx, "ann", "Other", []byte("x")); parley.ErrorCode(err) != parley.CodeConflict {
		t.Errorf("second ann: %v, want conflict", err)
	}
	u, hash, err := s.UserCredentials(ctx, "ann")
	if err != nil || string(hash) != "h1" || u != ann {
		t.Errorf("UserCredentials(ann) = %+v, %q, %v", u, hash, err)
	}
	if _, _, err := s.UserCredentials(ctx, "nobody"); !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("UserCredentials(nobody): %v, want not_found", err)
	}
	if got, err := s.User(ctx, bob.ID); err != nil || got != bob {
		t.Errorf("User(bob) = %+v, %v", got, err)
	}
	if _, err := s.User(ctx, "missing"); !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("User(missing): %v, want not_found", err)
	}

	for _, tc := range []struct {
		prefix string
		limit  int
		want   []string
	}{
		{"bo", 0, []string{"bob_smith", "bobby", "eve"}}, // eve by display name
		{"BO", 0, []string{"bob_smith", "bobby", "eve"}},
		{"bob_", 0, []string{"bob_smith"}}, // _ is literal
		{"bo", 1, []string{"bob_smith"}},
		{"ann a", 0, []string{"ann"}},
		{"%", 0, nil},
		{"zz", 0, nil},
	} {
		us, err := s.SearchUsers(ctx, tc.prefix, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range us {
			got = append(got, u.Username)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("SearchUsers(%q, %d) (-want +got):\n%s", tc.prefix, tc.limit, diff)
		}
	}
	_ = eve
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	u := mustUser(t, s, "ann")
	later := time.Now().Add(time.Hour)
	if err := s.CreateRefreshToken(ctx, u.ID, "fam1", []byte("t1"), later); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshToken(ctx, u.ID, "fam2", []byte("other"), later); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshToken(ctx, u.ID, "fam3", []byte("old"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}

	rotate := func(old, new string) error {
		t.Helper()
		uid, err := s.RotateRefreshToken(ctx, []byte(old), []byte(new), later)
		if err == nil && uid != u.ID {
			t.Fatalf("rotate %s: user %q, want %q", old, uid, u.ID)
		}
		return err
	}
	unauthorized := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, parley.ErrUnauthorized) {
			t.Errorf("%s: %v, want unauthorized", what, err)
		}
	}
	if err := rotate("t1", "t2"); err != nil {
		t.Fatal(err)
	}
	if err := rotate("t2", "t3"); err != nil {
		t.Fatal(err)
	}
	unauthorized("unknown token", rotate("nope", "x"))
	unauthorized("expired token", rotate("old", "x"))
	// t1 was replaced: presenting it again is reuse, and the whole family,
	// t3 included, is revoked.
	unauthorized("reused token", rotate("t1", "t9"))
	unauthorized("token of a revoked family", rotate("t3", "t4"))
	// Other sessions are untouched.
	if err := rotate("other", "other2"); err != nil {
		t.Fatalf("other family: %v", err)
	}
	// Revoking ends the session.
	if err := s.RevokeRefreshToken(ctx, []byte("other2")); err != nil {
		t.Fatal(err)
	}
	unauthorized("revoked token", rotate("other2", "other3"))
	if err := s.RevokeRefreshToken(ctx, []byte("never issued")); err != nil {
		t.Errorf("revoking an unknown token: %v", err)
	}
}
