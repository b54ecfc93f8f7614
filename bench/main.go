// Command bench is Parley's load generator and benchmark harness.
//
//	go run ./bench --scenario throughput --runs 3 --json out.json
//
// It starts a Parley of its own (one NATS server, one Postgres and the
// persist workers in a "server" child process, several "edge" child
// processes) in a temporary directory, or drives an existing one given with
// --target, and runs one scenario against it: connections, throughput,
// fanout or baseline. BENCHMARKS.md at the repository root explains each
// scenario and holds the figures.
//
// # Processes
//
// The harness re-executes its own binary with a hidden --role flag for each
// child (server, edge, clients). A child reads its job as one JSON line on
// stdin, answers with JSON lines on stdout, and stops when its stdin
// closes; it is also killed (Pdeathsig) if the harness dies. The load
// generator of the throughput and fanout scenarios runs in the harness
// process itself; the idle sockets of the connections scenario are spread
// over several "clients" children, because one process may hold at most
// 20,000 open files here.
//
// Every socket binds its source address to one of 127.0.0.2, 127.0.0.3, ...
// so that no source address runs out of ephemeral ports.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	Scenario   string
	Target     []string // edge base URLs; empty: start a Parley of our own
	TargetNATS string   // with Target: the NATS URL, for persisted figures
	Runs       int
	JSON       string
	PProf      string
	Edges      int // 0: 4 for connections, 2 otherwise
	Workers    int

	// connections
	Conns    int
	Procs    int // client processes; 0: one per 15,000 sockets, at least 3 for 30,000 or more
	Hold     time.Duration
	DialRate int
	Sample   int

	// throughput
	Rate      int
	Duration  time.Duration
	Drain     time.Duration // how long to wait after sending for acks, deliveries and persistence
	Users     int
	GroupSize int
	BodyBytes int

	// fanout
	Members    int
	FanoutRate int

	// baseline
	Baseline         bool
	BaselineDuration time.Duration

	Quiet bool // no progress lines (tests)
}

func defaultConfig() config {
	return config{
		Runs: 1, Workers: 2,
		Conns: 50000, Hold: 30 * time.Second, DialRate: 3000, Sample: 100,
		Rate: 10000, Duration: 60 * time.Second, Users: 2000, GroupSize: 8, BodyBytes: 100,
		Members: 1000, FanoutRate: 20,
		Baseline: true, BaselineDuration: 10 * time.Second, Drain: 30 * time.Second,
	}
}

func parseConfig(args []string) (config, error) {
	c := defaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var target string
	fs.StringVar(&c.Scenario, "scenario", "", "connections, throughput, fanout or baseline (required)")
	fs.StringVar(&target, "target", "", "comma-separated edge base URLs of a running Parley; empty: start one in a temporary directory")
	fs.StringVar(&c.TargetNATS, "target-nats", "", "with --target: its NATS URL, to measure persistence through the persist durable")
	fs.IntVar(&c.Runs, "runs", c.Runs, "runs of the scenario, each on a fresh Parley; the report adds their medians")
	fs.StringVar(&c.JSON, "json", "", "also write the report as JSON to this file")
	fs.StringVar(&c.PProf, "pprof", "", "write a CPU profile of each edge during the measured phase into this directory")
	fs.IntVar(&c.Edges, "edges", 0, "edge processes to start; 0: 4 for connections, 2 otherwise")
	fs.IntVar(&c.Workers, "workers", c.Workers, "persist workers")
	fs.IntVar(&c.Conns, "conns", c.Conns, "connections: idle WebSockets to hold")
	fs.IntVar(&c.Procs, "procs", 0, "connections: client processes; 0: one per 15,000 sockets (at least 3 from 30,000)")
	fs.DurationVar(&c.Hold, "hold", c.Hold, "connections: how long to hold the sockets once all are open")
	fs.IntVar(&c.DialRate, "dial-rate", c.DialRate, "connections: new sockets per second, over all client processes")
	fs.IntVar(&c.Sample, "sample", c.Sample, "connections: sockets sent a message at the end to show they are alive")
	fs.IntVar(&c.Rate, "rate", c.Rate, "throughput: messages per second, on a fixed schedule")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "throughput and fanout: how long to send")
	fs.DurationVar(&c.Drain, "drain", c.Drain, "throughput and fanout: how long to wait afterwards for every ack, delivery and commit")
	fs.IntVar(&c.Users, "users", c.Users, "throughput: users, each with one socket, one direct and one group conversation")
	fs.IntVar(&c.GroupSize, "group-size", c.GroupSize, "throughput: members per group")
	fs.IntVar(&c.BodyBytes, "body-bytes", c.BodyBytes, "message body size")
	fs.IntVar(&c.Members, "members", c.Members, "fanout: members of the group, each connected")
	fs.IntVar(&c.FanoutRate, "fanout-rate", c.FanoutRate, "fanout: messages per second to the group")
	fs.BoolVar(&c.Baseline, "baseline", c.Baseline, "throughput: measure the baseline first, in the same run, for the ratios")
	fs.DurationVar(&c.BaselineDuration, "baseline-duration", c.BaselineDuration, "how long each baseline part runs")
	fs.BoolVar(&c.Quiet, "quiet", false, "no progress lines")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if target != "" {
		for _, t := range strings.Split(target, ",") {
			if t = strings.TrimSpace(t); t != "" {
				c.Target = append(c.Target, strings.TrimRight(t, "/"))
			}
		}
	}
	return c, c.validate()
}

func (c *config) validate() error {
	switch c.Scenario {
	case "connections", "throughput", "fanout", "baseline":
	case "":
		return errors.New("--scenario is required: connections, throughput, fanout or baseline")
	default:
		return fmt.Errorf("unknown scenario %q", c.Scenario)
	}
	if c.Edges == 0 {
		c.Edges = 2
		if c.Scenario == "connections" {
			c.Edges = 4
		}
	}
	if c.Procs == 0 {
		c.Procs = max(1, (c.Conns+14999)/15000)
		if c.Conns >= 30000 {
			c.Procs = max(c.Procs, 3)
		}
	}
	if c.Scenario == "baseline" && len(c.Target) > 0 {
		return errors.New("baseline measures the parts of a Parley the harness starts itself; it takes no --target")
	}
	if c.Runs < 1 || c.Rate < 1 || c.Users < 4 || c.GroupSize < 2 || c.Members < 2 || c.Conns < 1 || c.DialRate < 1 || c.FanoutRate < 1 {
		return errors.New("--runs, --rate, --conns, --dial-rate, --fanout-rate must be positive; --users at least 4, --group-size and --members at least 2")
	}
	if c.BodyBytes < 64 || c.BodyBytes > 16<<10 {
		return errors.New("--body-bytes must be 64 to 16384")
	}
	return nil
}

func main() {
	if len(os.Args) > 2 && os.Args[1] == "--role" {
		os.Exit(runChild(os.Args[2]))
	}
	c, err := parseConfig(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run runs the scenario c.Runs times and prints the report.
func run(ctx context.Context, c config) error {
	rep := &report{Scenario: c.Scenario, Command: "go run ./bench " + strings.Join(os.Args[1:], " "), Machine: machine(), Config: c, Started: time.Now().UTC()}
	for i := range c.Runs {
		progressf(c, "run %d of %d", i+1, c.Runs)
		r, err := runOnce(ctx, c)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		rep.Runs = append(rep.Runs, r)
		one := &report{Scenario: fmt.Sprintf("%s, run %d", c.Scenario, i+1), Command: rep.Command, Machine: rep.Machine, Runs: []result{r}, Median: r}
		fmt.Fprint(os.Stderr, one.markdown())
	}
	rep.Median = median(rep.Runs)
	fmt.Print(rep.markdown())
	if c.JSON != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(c.JSON, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	return rep.check()
}

// runOnce runs the scenario once on a fresh environment.
func runOnce(ctx context.Context, c config) (result, error) {
	e, err := startEnv(ctx, c)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	switch c.Scenario {
	case "connections":
		return runConnections(ctx, c, e)
	case "throughput":
		return runThroughput(ctx, c, e)
	case "fanout":
		return runFanout(ctx, c, e)
	default:
		return runBaseline(ctx, c, e)
	}
}

// progressf writes a progress line to stderr unless c.Quiet.
func progressf(c config, format string, args ...any) {
	if c.Quiet {
		return
	}
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
