package persist

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/parley-im/parley/migrations"
)

// migrateLock is the advisory lock key that serializes Migrate across
// processes ("parley" in ASCII).
const migrateLock = 0x7061726c6579

// Migrate applies the embedded migrations that the database lacks, in
// order, each in its own transaction, and records them in
// schema_migrations. A session advisory lock makes concurrent callers
// (several edges or `parley migrate` runs starting at once) take turns; the
// later ones find nothing left to do. Versions in the database that this
// build does not know (a newer build migrated it) are left alone.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations.All()
	if err != nil {
		return err
	}
	return s.withConn(ctx, func(c *pgx.Conn) error {
		if _, err := c.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrateLock)); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		defer c.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrateLock))
		if _, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("migrate: create schema_migrations: %w", err)
		}
		rows, err := c.Query(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		applied := make(map[int]bool, len(versions))
		for _, v := range versions {
			applied[int(v)] = true
		}
		for _, m := range ms {
			if applied[m.Version] {
				continue
			}
			err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, m.SQL); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
				return err
			})
			if err != nil {
				return fmt.Errorf("migrate: %s: %w", m.Name, err)
			}
		}
		return nil
	})
}
