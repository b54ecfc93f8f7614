package persist_test

import (
	"context"
	"sync"
	"testing"

	"github.com/parley-im/parley/migrations"
	"github.com/parley-im/parley/persist/pgtest"
)

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.EmptyURL(t)
	var wg sync.WaitGroup
	for range 4 {
		s := storeAt(t, url)
		wg.Go(func() {
			if err := s.Migrate(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ms, err := migrations.All()
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t, url)
	if got := count(t, db, `SELECT count(*) FROM schema_migrations`); got != len(ms) {
		t.Errorf("%d migrations recorded, want %d", got, len(ms))
	}
	// Again: nothing left to do.
	if err := storeAt(t, url).Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := count(t, db, `SELECT count(*) FROM messages`); got != 0 {
		t.Errorf("messages = %d", got)
	}
}
