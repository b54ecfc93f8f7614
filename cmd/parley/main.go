// Command parley is Parley's one binary.
//
//	parley dev      everything in one process: embedded NATS, a private Postgres, workers, an edge
//	parley edge     one stateless edge (REST + WebSocket) against external NATS and Postgres
//	parley persist  persist workers: the durable consumer that writes Postgres
//	parley migrate  apply database migrations (and create or update the streams with --nats-url)
//	parley version  print the version
//
// Operators run any number of edges and persist processes side by side.
// Every flag can also be set through the environment as PARLEY_<NAME>
// (--database-url is PARLEY_DATABASE_URL); a flag on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "devel"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(1)
	}
}

const usage = `usage: parley <command> [flags]

commands:
  dev       run everything in one process (embedded NATS, private Postgres)
  edge      run one edge: REST and WebSocket, against external NATS and Postgres
  persist   run persist workers: write the conversation stream to Postgres
  migrate   apply database migrations; with --nats-url, set up the streams too
  version   print the version

"parley <command> -h" lists the command's flags and their PARLEY_* variables.
`

// run is the whole program; main only supplies the process's signals,
// arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, args := args[0], args[1:]
	err := dispatch(ctx, cmd, args, getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	switch cmd {
	case "dev":
		c, err := parseDev(args, getenv, stderr)
		if err != nil {
			return err
		}
		return runDev(ctx, c, newLogger(stderr, c.Log))
	case "edge":
		c, err := parseEdge(args, getenv, stderr)
		if err != nil {
			return err
		}
		return runEdge(ctx, c, newLogger(stderr, c.Log))
	case "persist":
		c, err := parsePersist(args, getenv, stderr)
		if err != nil {
			return err
		}
		return runPersist(ctx, c, newLogger(stderr, c.Log))
	case "migrate":
		c, err := parseMigrate(args, getenv, stderr)
		if err != nil {
			return err
		}
		return runMigrate(ctx, c, newLogger(stderr, c.Log))
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "parley %s %s\n", buildVersion(), runtime.Version())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func newLogger(w io.Writer, c logConfig) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.Level}
	if c.JSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// buildVersion is the -X version, or the module version when built with
// `go install module@version`.
func buildVersion() string {
	if version != "devel" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}
