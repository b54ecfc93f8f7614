package migrations

import (
	"testing"
	"testing/fstest"
)

func TestAll(t *testing.T) {
	ms, err := All()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Name != "0001_init.sql" {
		t.Fatalf("first migration = %+v, want 0001_init.sql", ms)
	}
	for i, m := range ms {
		if m.Version != i+1 || m.SQL == "" {
			t.Errorf("migration %d: version %d, %d bytes of SQL", i, m.Version, len(m.SQL))
		}
	}
}

func TestParseRejects(t *testing.T) {
	for name, files := range map[string][]string{
		"gap":       {"0001_a.sql", "0003_c.sql"},
		"duplicate": {"0001_a.sql", "0001_b.sql"},
		"no number": {"init.sql"},
		"short":     {"1_init.sql"},
		"zero":      {"0000_init.sql"},
		"not first": {"0002_b.sql"},
	} {
		t.Run(name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range files {
				fsys[f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			if ms, err := parse(fsys); err == nil {
				t.Fatalf("parse(%v) = %+v, want an error", files, ms)
			}
		})
	}
}
