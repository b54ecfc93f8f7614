package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"
)

// The configuration of each subcommand: plain values, parsed from flags and
// PARLEY_* environment variables here and nowhere else, and validated before
// anything starts.

// logConfig is shared by every subcommand.
type logConfig struct {
	JSON  bool       // false: text lines
	Level slog.Level // zero: info
}

// devConfig configures `parley dev`.
type devConfig struct {
	Addr           string        // required; default 127.0.0.1:8080
	Data           string        // required; default ./data
	StoryTTL       time.Duration // > 0; default 24h
	AllowedOrigins []string      // empty: same origin only
	SyncAlways     bool          // false: nats-server's default fsync interval
	TokenKey       []byte        // nil: generated once and kept in <Data>/token.key
	Workers        int           // >= 1; default 2
	StreamMaxAge   time.Duration // 0: the streams package default (72h)
	Log            logConfig
}

// edgeConfig configures `parley edge`.
type edgeConfig struct {
	Addr           string // required
	NATSURL        string // required
	DatabaseURL    string // required
	TokenKey       []byte // required, >= 32 bytes, shared by every edge
	AllowedOrigins []string
	StoryTTL       time.Duration // > 0
	Log            logConfig
}

// persistConfig configures `parley persist`.
type persistConfig struct {
	NATSURL     string // required
	DatabaseURL string // required
	Workers     int    // >= 1
	Batch       int    // 0: the persist package default
	MetricsAddr string // "": no HTTP listener; else /metrics and /healthz
	Log         logConfig
}

// migrateConfig configures `parley migrate`.
type migrateConfig struct {
	DatabaseURL    string        // required
	NATSURL        string        // "": migrate the database only
	StreamReplicas int           // 1, 3 or 5
	StreamMaxAge   time.Duration // 0: the streams package default (72h)
	Log            logConfig
}

// newFlagSet returns a flag set that reports to w and returns errors.
func newFlagSet(name string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("parley "+name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "usage: parley %s [flags]\n\nEvery flag can also be set with the environment variable shown; a flag given on the command line wins.\n\n", name)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" {
				def = fmt.Sprintf(" (default %q)", f.DefValue)
			}
			fmt.Fprintf(w, "  --%s  [%s]%s\n    \t%s\n", f.Name, envName(f.Name), def, f.Usage)
		})
	}
	return fs
}

// envName is the environment variable of a flag: --story-ttl is PARLEY_STORY_TTL.
func envName(flagName string) string {
	return "PARLEY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args, then fills every flag not given on the command
// line from its environment variable, when that is set and not empty.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// logFlags adds --log-json and --log-level.
func logFlags(fs *flag.FlagSet, c *logConfig) {
	fs.BoolVar(&c.JSON, "log-json", false, "log JSON lines instead of text")
	fs.TextVar(&c.Level, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
}

// listFlag is a comma-separated list.
type listFlag struct{ v *[]string }

func (l listFlag) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l listFlag) Set(s string) error {
	*l.v = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l.v = append(*l.v, p)
		}
	}
	return nil
}

// keyFlag is a secret key given as hex or base64 (standard or URL
// alphabet, padded or not).
type keyFlag struct{ v *[]byte }

func (k keyFlag) String() string { return "" } // never print a secret

func (k keyFlag) Set(s string) error {
	b, err := decodeKey(s)
	if err != nil {
		return err
	}
	*k.v = b
	return nil
}

// minKeyBytes is the least key length the edge accepts for signing tokens.
const minKeyBytes = 32

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	var b []byte
	if h, err := hex.DecodeString(s); err == nil {
		b = h
	} else {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if d, err := enc.DecodeString(s); err == nil {
				b = d
				break
			}
		}
		if b == nil {
			return nil, errors.New("token key is neither hex nor base64")
		}
	}
	if len(b) < minKeyBytes {
		return nil, fmt.Errorf("token key has %d bytes; it needs at least %d", len(b), minKeyBytes)
	}
	return b, nil
}

func parseDev(args []string, getenv func(string) string, w io.Writer) (devConfig, error) {
	var c devConfig
	fs := newFlagSet("dev", w)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "address to serve HTTP and WebSocket on")
	fs.StringVar(&c.Data, "data", "./data", "directory holding all state (NATS store, Postgres, token key); reused on the next start")
	fs.DurationVar(&c.StoryTTL, "story-ttl", 24*time.Hour, "how long a story lives")
	fs.Var(listFlag{&c.AllowedOrigins}, "allowed-origins", "comma-separated Origin values allowed on WebSocket upgrades; empty: same origin only; * any")
	fs.BoolVar(&c.SyncAlways, "sync-always", false, "fsync every JetStream write before acknowledging it (slower; survives a power cut)")
	fs.Var(keyFlag{&c.TokenKey}, "token-key", "token signing key, hex or base64, at least 32 bytes; empty: generated once into <data>/token.key")
	fs.IntVar(&c.Workers, "workers", 2, "persist workers sharing the persist durable")
	fs.DurationVar(&c.StreamMaxAge, "stream-max-age", 72*time.Hour, "how long the streams keep events (older history is served from Postgres)")
	logFlags(fs, &c.Log)
	if err := parseFlags(fs, args, getenv); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c devConfig) validate() error {
	var errs []error
	errs = append(errs, validAddr("--addr", c.Addr))
	if c.Data == "" {
		errs = append(errs, errors.New("--data is required"))
	}
	errs = append(errs, positive("--story-ttl", c.StoryTTL), notNegative("--stream-max-age", c.StreamMaxAge))
	if c.Workers < 1 {
		errs = append(errs, errors.New("--workers must be at least 1"))
	}
	return errors.Join(errs...)
}

func parseEdge(args []string, getenv func(string) string, w io.Writer) (edgeConfig, error) {
	var c edgeConfig
	fs := newFlagSet("edge", w)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "address to serve HTTP and WebSocket on")
	fs.StringVar(&c.NATSURL, "nats-url", "", "NATS server URLs, comma-separated (required)")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL (required)")
	fs.Var(keyFlag{&c.TokenKey}, "token-key", "token signing key shared by every edge, hex or base64, at least 32 bytes (required)")
	fs.Var(listFlag{&c.AllowedOrigins}, "allowed-origins", "comma-separated Origin values allowed on WebSocket upgrades; empty: same origin only; * any")
	fs.DurationVar(&c.StoryTTL, "story-ttl", 24*time.Hour, "how long a story lives")
	logFlags(fs, &c.Log)
	if err := parseFlags(fs, args, getenv); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c edgeConfig) validate() error {
	var errs []error
	errs = append(errs, validAddr("--addr", c.Addr), required("--nats-url", c.NATSURL), required("--database-url", c.DatabaseURL))
	if c.TokenKey == nil {
		errs = append(errs, fmt.Errorf("--token-key (or %s) is required: every edge must share it", envName("token-key")))
	}
	errs = append(errs, positive("--story-ttl", c.StoryTTL))
	return errors.Join(errs...)
}

func parsePersist(args []string, getenv func(string) string, w io.Writer) (persistConfig, error) {
	var c persistConfig
	fs := newFlagSet("persist", w)
	fs.StringVar(&c.NATSURL, "nats-url", "", "NATS server URLs, comma-separated (required)")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL (required)")
	fs.IntVar(&c.Workers, "workers", 2, "workers in this process, all on the persist durable")
	fs.IntVar(&c.Batch, "batch", 0, "events per Postgres transaction; 0: the built-in default")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "address serving /metrics and /healthz; empty: none")
	logFlags(fs, &c.Log)
	if err := parseFlags(fs, args, getenv); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c persistConfig) validate() error {
	var errs []error
	errs = append(errs, required("--nats-url", c.NATSURL), required("--database-url", c.DatabaseURL))
	if c.Workers < 1 {
		errs = append(errs, errors.New("--workers must be at least 1"))
	}
	if c.Batch < 0 {
		errs = append(errs, errors.New("--batch must not be negative"))
	}
	if c.MetricsAddr != "" {
		errs = append(errs, validAddr("--metrics-addr", c.MetricsAddr))
	}
	return errors.Join(errs...)
}

func parseMigrate(args []string, getenv func(string) string, w io.Writer) (migrateConfig, error) {
	var c migrateConfig
	fs := newFlagSet("migrate", w)
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL (required)")
	fs.StringVar(&c.NATSURL, "nats-url", "", "NATS server URLs; when set, the streams are created or updated too")
	fs.IntVar(&c.StreamReplicas, "stream-replicas", 1, "replicas of each stream: 1, or 3 or 5 in a cluster")
	fs.DurationVar(&c.StreamMaxAge, "stream-max-age", 72*time.Hour, "how long the streams keep events (older history is served from Postgres)")
	logFlags(fs, &c.Log)
	if err := parseFlags(fs, args, getenv); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c migrateConfig) validate() error {
	var errs []error
	errs = append(errs, required("--database-url", c.DatabaseURL), notNegative("--stream-max-age", c.StreamMaxAge))
	switch c.StreamReplicas {
	case 1, 3, 5:
	default:
		errs = append(errs, fmt.Errorf("--stream-replicas must be 1, 3 or 5, not %d", c.StreamReplicas))
	}
	return errors.Join(errs...)
}

func required(name, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s (or %s) is required", name, envName(strings.TrimPrefix(name, "--")))
	}
	return nil
}

func validAddr(name, addr string) error {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return fmt.Errorf("%s %q is not host:port", name, addr)
	}
	return nil
}

func positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s must be positive", name)
	}
	return nil
}

func notNegative(name string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s must not be negative", name)
	}
	return nil
}
