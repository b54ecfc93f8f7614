package main

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary act as the harness's children: the harness
// re-executes its own binary (here, this one) with --role.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "--role" {
		os.Exit(runChild(os.Args[2]))
	}
	os.Exit(m.Run())
}

// TestScenarios runs each scenario with tiny numbers against a real Parley
// (edges, NATS, Postgres in child processes): the harness works and counts
// losses. There is no speed assertion.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postgres, NATS and edges")
	}
	base := defaultConfig()
	base.Quiet = true
	base.Edges = 2
	base.BaselineDuration = 500 * time.Millisecond
	// One Parley for every scenario, as a --target would be shared.
	env0 := base
	env0.Scenario = "baseline"
	ctx0, cancel0 := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel0()
	e, err := startEnv(ctx0, env0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.stop()
	for _, tc := range []struct {
		name     string
		set      func(*config)
		positive []string // metrics that must be above zero
	}{
		{"baseline", func(c *config) { c.Scenario = "baseline"; c.Users = 20 },
			[]string{"baseline: JetStream publish", "baseline: Postgres insert"}},
		{"connections", func(c *config) {
			c.Scenario, c.Conns, c.Procs, c.DialRate, c.Hold, c.Sample = "connections", 200, 2, 1000, time.Second, 10
		}, []string{"sockets held", "connect rate"}},
		{"throughput", func(c *config) {
			c.Scenario, c.Users, c.GroupSize, c.Rate, c.Duration, c.Baseline = "throughput", 20, 4, 200, 2*time.Second, true
		}, []string{"accepted", "delivered", "persisted", "send→deliver p50", "accepted ÷ JetStream baseline"}},
		{"fanout", func(c *config) {
			c.Scenario, c.Members, c.FanoutRate, c.Duration = "fanout", 20, 20, 2*time.Second
		}, []string{"delivered", "send→deliver to all members p99"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.set(&c)
			if err := c.validate(); err != nil {
				t.Fatal(err)
			}
			e.cfg = c
			var r result
			var err error
			switch c.Scenario {
			case "connections":
				r, err = runConnections(ctx0, c, e)
			case "throughput":
				r, err = runThroughput(ctx0, c, e)
			case "fanout":
				r, err = runFanout(ctx0, c, e)
			default:
				r, err = runBaseline(ctx0, c, e)
			}
			if err != nil {
				t.Fatal(err)
			}
			rep := &report{Scenario: c.Scenario, Machine: machine(), Runs: []result{r}, Median: median([]result{r})}
			t.Log(rep.markdown())
			if err := rep.check(); err != nil {
				t.Error(err)
			}
			for _, name := range tc.positive {
				if v := r.get(name); v <= 0 {
					t.Errorf("%s = %v, want > 0", name, v)
				}
			}
			if tc.name == "connections" && r.get("sockets held") != 200 {
				t.Errorf("sockets held = %v, want 200", r.get("sockets held"))
			}
		})
	}
}
