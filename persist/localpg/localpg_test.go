package localpg

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func tempDir(t testing.TB) string {
	t.Helper()
	// Not t.TempDir: its parent is mode 0700, which the unprivileged server
	// user cannot traverse when the tests run as root.
	dir, err := os.MkdirTemp("", "localpg-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func query(t testing.TB, url, sql string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestStartStopRestart(t *testing.T) {
	ctx := context.Background()
	dir := tempDir(t)
	s, err := Start(ctx, Options{Dir: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := query(t, s.URL(), "SELECT current_database()"); got != Database {
		t.Errorf("database = %q, want %q", got, Database)
	}
	if os.Geteuid() == 0 {
		if u := query(t, s.URL(), "SELECT current_setting('data_directory')"); !strings.HasPrefix(u, dir) {
			t.Errorf("data_directory = %q", u)
		}
	}
	conn, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	// A stale postmaster.pid, as a killed server leaves, must not block the
	// next start; the cluster and its data are reused.
	pid := filepath.Join(dir, "data", "postmaster.pid")
	if err := os.WriteFile(pid, []byte("999999\n"+dir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Start(ctx, Options{Dir: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if got := query(t, s.URL(), "SELECT v::text FROM kept"); got != "7" {
		t.Errorf("kept = %q, want 7", got)
	}
}

func TestUnreachableDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root drops privileges")
	}
	parent := tempDir(t) // mode 0700, owned by root
	_, err := Start(context.Background(), Options{Dir: filepath.Join(parent, "sub", "pg")})
	if err == nil || !strings.Contains(err.Error(), "chmod o+x") {
		t.Fatalf("Start under a 0700 root directory: %v, want an error saying chmod o+x", err)
	}
}

func TestNoBinaries(t *testing.T) {
	_, err := findBinaries(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y postgresql") {
		t.Fatalf("findBinaries(empty dir) = %v, want the install command", err)
	}
}
