// Package pgtest gives tests a fresh, migrated PostgreSQL database on a
// private server (persist/localpg). It is test support only: it imports
// testing, and no production package may import it.
//
// A test package opts in with
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Main starts one server for the test binary in a new directory under
// os.TempDir() (with fsync off), migrates a template database once, runs
// the tests, then stops the server and removes the directory. URL(t) then
// copies the template into a database of its own for the test, t_<random>,
// and drops it when the test ends: tests may run in parallel and never see
// each other's rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-im/parley/persist"
	"github.com/parley-im/parley/persist/localpg"
)

// template is the migrated database that URL copies.
const template = "parley_template"

// server is set by Main for the life of the test binary.
var server *localpg.Server

// Main starts the test binary's server, runs the tests and stops it. Call it
// from TestMain; it does not return.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	// A directory of its own right under the temporary directory, so that an
	// unprivileged server user can reach it when the tests run as root.
	dir, err := os.MkdirTemp("", "parley-pgtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	s, err := localpg.Start(ctx, localpg.Options{Dir: dir, Fast: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	defer s.Stop()
	if err := prepareTemplate(ctx, s); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	server = s
	return m.Run()
}

func prepareTemplate(ctx context.Context, s *localpg.Server) error {
	if err := exec(ctx, s, "CREATE DATABASE "+template); err != nil {
		return err
	}
	st, err := persist.Open(ctx, s.DatabaseURL(template))
	if err != nil {
		return err
	}
	defer st.Close()
	return st.Migrate(ctx)
}

// URL returns the URL of a new database, migrated, for this test alone; it
// is dropped when the test ends, even if connections to it remain.
func URL(t testing.TB) string {
	t.Helper()
	return create(t, "TEMPLATE "+template)
}

// EmptyURL is URL without the migrations.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return create(t, "")
}

func create(t testing.TB, opts string) string {
	t.Helper()
	if server == nil {
		t.Fatal("pgtest: no server; the package's TestMain must call pgtest.Main(m)")
	}
	var b [8]byte
	rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := exec(ctx, server, "CREATE DATABASE "+name+" "+opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := exec(ctx, server, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	return server.DatabaseURL(name)
}

func exec(ctx context.Context, s *localpg.Server, sql string) error {
	conn, err := pgx.Connect(ctx, s.DatabaseURL("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: %s: %w", sql, err)
	}
	return nil
}
