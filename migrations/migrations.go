// Package migrations holds Parley's PostgreSQL schema as numbered SQL files,
// embedded in the binary and applied in order by persist.(*Store).Migrate
// (`parley migrate`, and `parley dev` at start).
//
// Files are named NNNN_name.sql, numbered from 0001 without gaps. A file,
// once released, is never edited: a change to the schema is a new file.
// Each file runs in its own transaction, so it must not contain statements
// that cannot run inside one (CREATE INDEX CONCURRENTLY, for example).
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS

// Migration is one numbered schema change.
type Migration struct {
	Version int    // 1, 2, ... from the file name's number
	Name    string // the file name, such as "0001_init.sql"
	SQL     string
}

// All returns the migrations in FS in version order. It fails on a badly
// named file, a duplicate number or a gap in the numbering.
func All() ([]Migration, error) { return parse(FS) }

func parse(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, name := range names {
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 || v <= 0 {
			return nil, fmt.Errorf("migrations: %s: name must be NNNN_name.sql", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations: %s: expected number %04d (numbers start at 1, without gaps or duplicates)", m.Name, i+1)
		}
	}
	return ms, nil
}
