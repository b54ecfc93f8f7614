package main

import (
	"context"
	"fmt"
)

// runThroughput: users with one socket each, every user in one direct
// conversation and one group, messages at a fixed rate spread evenly over
// the conversations, each delivered to every member and persisted. With
// --baseline, the parts are measured alone first, in the same run.
func runThroughput(ctx context.Context, c config, e *env) (result, error) {
	n := c.Users - c.Users%2
	var groups [][]int
	for i := 0; i < n; i += 2 {
		groups = append(groups, []int{i, i + 1})
	}
	// Groups are offset by half a group from the directs, so that a group
	// mixes members of different directs and edges.
	for g := 0; g+c.GroupSize <= n; g += c.GroupSize {
		var m []int
		for j := range c.GroupSize {
			m = append(m, (g+c.GroupSize/2+j)%n)
		}
		groups = append(groups, m)
	}
	var r result
	var base result
	if c.Baseline && e.dbURL != "" {
		var err error
		if base, err = baseline(ctx, c, e, len(groups)); err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
	}
	l, err := setupLoad(ctx, c, e, n, groups)
	if err != nil {
		return nil, err
	}
	defer l.close()
	progressf(c, "sending %d msg/s for %s over %d conversations (%d users)", c.Rate, c.Duration, len(groups), n)
	if err := l.run(ctx, c.Rate, c.Duration, c.Drain); err != nil {
		return nil, err
	}
	r.add("edges", "count", float64(len(e.endpoints)))
	l.result(&r)
	if base != nil {
		r = append(r, base...)
		if js := base.get("baseline: JetStream publish"); js > 0 {
			r.add("accepted ÷ JetStream baseline", "ratio", r.get("accepted")/js)
		}
		if pg := base.get("baseline: Postgres insert"); pg > 0 {
			r.add("persisted ÷ Postgres baseline", "ratio", r.get("persisted")/pg)
		}
	}
	return r, nil
}

// runFanout: one group whose members are all connected, one message after
// another from its members in turn, each delivered to every member.
func runFanout(ctx context.Context, c config, e *env) (result, error) {
	members := make([]int, c.Members)
	for i := range members {
		members[i] = i
	}
	l, err := setupLoad(ctx, c, e, c.Members, [][]int{members})
	if err != nil {
		return nil, err
	}
	defer l.close()
	progressf(c, "sending %d msg/s for %s to one group of %d members", c.FanoutRate, c.Duration, c.Members)
	if err := l.run(ctx, c.FanoutRate, c.Duration, c.Drain); err != nil {
		return nil, err
	}
	var r result
	r.add("edges", "count", float64(len(e.endpoints)))
	l.result(&r)
	return r, nil
}
