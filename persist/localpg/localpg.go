// Package localpg runs a private PostgreSQL server from the locally installed
// server binaries, for `parley dev` and for tests (through persist/pgtest).
//
// The server listens on 127.0.0.1 only (and on a unix socket in its
// directory), trusts every local connection, and is owned by the process
// that started it: Stop shuts it down, and on Linux it is also told to shut
// down if that process dies. It is not meant for production; point Parley at
// a real PostgreSQL with --database-url there.
//
// When the process runs as root, PostgreSQL (which refuses to run as root)
// runs as the "postgres" system user if it exists, else as "nobody". That
// user must be able to reach the directory: every parent of Options.Dir must
// be traversable by it (mode o+x). A directory made with os.MkdirTemp under
// /tmp qualifies; /root does not, unless made so with `chmod o+x /root`.
package localpg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Database is the database Start creates, and the one URL names.
const Database = "parley"

// Superuser is the role initdb creates; every local connection is trusted.
const Superuser = "parley"

// Options configure a server. The zero value of each field picks the default
// beside it.
type Options struct {
	// Dir holds everything the server writes: the cluster in Dir/data, the
	// log in Dir/postgres.log, and the unix socket. Required. The cluster is
	// created on first use and reused afterwards.
	Dir string
	// Port is the TCP port on 127.0.0.1. 0: a free port, picked anew at
	// every start.
	Port int
	// BinDir holds initdb and postgres. "": found on PATH, else the newest
	// /usr/lib/postgresql/<version>/bin.
	BinDir string
	// Fast turns off fsync, synchronous_commit and full_page_writes: quick,
	// but a crash of the machine may corrupt the cluster. For tests only;
	// false keeps `parley dev` data safe.
	Fast bool
	// StartTimeout bounds how long Start waits for the server to accept
	// connections. 0: 60s.
	StartTimeout time.Duration
}

// Server is a running private PostgreSQL.
type Server struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the postmaster has exited

	stopOnce sync.Once
	stopErr  error
}

// Start starts a server (creating its cluster on first use), waits until it
// accepts connections and creates database Database if it is missing.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("localpg: no directory")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	bin, err := findBinaries(o.BinDir)
	if err != nil {
		return nil, err
	}
	acct, err := lookupAccount()
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir, acct); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := initCluster(ctx, bin, dir, data, acct, o.Fast); err != nil {
		return nil, err
	}
	if err := clearStalePID(data); err != nil {
		return nil, err
	}
	port := o.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, fmt.Errorf("localpg: pick a port: %w", err)
		}
	}
	s := &Server{dir: dir, port: port, done: make(chan struct{})}
	if err := s.startPostmaster(bin, data, acct, o.Fast); err != nil {
		return nil, err
	}
	timeout := o.StartTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.waitReady(wctx); err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.ensureDatabase(wctx, Database); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// URL returns the URL of database Database.
func (s *Server) URL() string { return s.DatabaseURL(Database) }

// DatabaseURL returns the URL of the named database on this server.
func (s *Server) DatabaseURL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, s.port, db)
}

// Port returns the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// Dir returns the server's directory.
func (s *Server) Dir() string { return s.dir }

// Stop shuts the server down (fast shutdown: open sessions are ended) and
// waits for it to exit. It may be called more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(60 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
			s.stopErr = errors.New("localpg: server did not shut down within 60s; killed")
		}
	})
	return s.stopErr
}

func (s *Server) startPostmaster(bin, data string, acct account, fast bool) error {
	logPath := filepath.Join(s.dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor
	if acct.drop {
		if err := logf.Chown(int(acct.uid), int(acct.gid)); err != nil {
			return fmt.Errorf("localpg: %w", err)
		}
	}
	// A unix socket path is limited to about 100 bytes; skip the socket
	// rather than fail when the directory is deep.
	sock := s.dir
	if len(sock)+len("/.s.PGSQL.65535") > 100 {
		sock = ""
	}
	args := []string{
		"-D", data,
		"-p", strconv.Itoa(s.port),
		"-k", sock,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=300",
	}
	if fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir = s.dir
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr(acct)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("localpg: start postgres: %w", err)
	}
	s.cmd = cmd
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	return nil
}

// waitReady polls until the server accepts a connection, the postmaster
// exits, or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, s.DatabaseURL("postgres"))
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("localpg: postgres exited at start; last log lines:\n%s", s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("localpg: postgres not ready: %w (last error: %v); last log lines:\n%s", ctx.Err(), err, s.logTail())
		case <-tick.C:
		}
	}
}

func (s *Server) ensureDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, s.DatabaseURL("postgres"))
	if err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("localpg: look up database: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("localpg: create database %s: %w", name, err)
	}
	return nil
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// initCluster runs initdb into data unless a cluster is there already.
func initCluster(ctx context.Context, bin, dir, data string, acct account, fast bool) error {
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err == nil {
		return nil
	}
	// A directory without PG_VERSION is what a killed initdb leaves.
	if err := os.RemoveAll(data); err != nil {
		return fmt.Errorf("localpg: remove incomplete cluster: %w", err)
	}
	base := []string{"-D", data, "-U", Superuser, "--auth=trust", "-E", "UTF8"}
	if fast {
		base = append(base, "--no-sync")
	}
	var out []byte
	var err error
	// C.UTF-8 gives lower() and ordering that know non-ASCII letters; fall
	// back to the C locale where the system lacks it.
	for _, loc := range [][]string{{"--locale=C.UTF-8"}, {"--no-locale"}} {
		os.RemoveAll(data)
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), append(base, loc...)...)
		cmd.Dir = dir
		cmd.Env = childEnv()
		cmd.SysProcAttr = sysProcAttr(acct)
		if out, err = cmd.CombinedOutput(); err == nil {
			return nil
		}
	}
	return fmt.Errorf("localpg: initdb: %w\n%s", err, out)
}

// clearStalePID removes a postmaster.pid left by a server that is gone, and
// stops an orphaned server of this cluster (its parent died without stopping
// it), so that a killed run never prevents the next start.
func clearStalePID(data string) error {
	pidFile := filepath.Join(data, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 || !isPostgres(pid) {
		return removePID(pidFile)
	}
	if ppid := parentPID(pid); ppid > 1 && ppid != os.Getpid() {
		return fmt.Errorf("localpg: cluster %s is in use by postgres (pid %d)", data, pid)
	}
	syscall.Kill(pid, syscall.SIGINT)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return removePID(pidFile)
		}
	}
	return fmt.Errorf("localpg: orphaned postgres (pid %d) on %s did not stop", pid, data)
}

func removePID(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("localpg: remove stale postmaster.pid: %w", err)
	}
	return nil
}

// isPostgres reports whether pid is a live postgres process.
func isPostgres(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return true // no /proc: assume the worst
	}
	return strings.HasPrefix(strings.TrimSpace(string(comm)), "postgres")
}

// parentPID returns pid's parent, or 0 if it cannot tell.
func parentPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: skip past it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func childEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "LANG=C"}
}
