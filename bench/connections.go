package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/client"
)

// clientsJob is the job of a "clients" child: open one idle socket per
// session, at rate per second.
type clientsJob struct {
	Endpoints []string         `json:"endpoints"`
	Sessions  []client.Session `json:"sessions"`
	First     int              `json:"first"` // index of Sessions[0] among all sockets
	Total     int              `json:"total"` // sockets over all children
	Rate      float64          `json:"rate"`
	Sample    []int            `json:"sample"` // indexes into Sessions watched for the probe message
}

// clientsStatus is what a "clients" child reports.
type clientsStatus struct {
	Done     bool           `json:"done,omitempty"` // every socket was tried
	Open     int            `json:"open"`           // sockets connected now
	Failed   int            `json:"failed"`         // sockets that never connected
	Dropped  int            `json:"dropped"`        // sockets that connected, then lost their socket
	Probed   int            `json:"probed"`         // sample sockets that received the probe
	PerEdge  map[string]int `json:"per_edge,omitempty"`
	Sessions int            `json:"sessions"`
}

// runClientsChild is the "clients" role.
func runClientsChild(ctx context.Context, cio *childIO) error {
	var job clientsJob
	if err := cio.read(&job); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := len(job.Sessions)
	conns := make([]*client.Conn, n)
	sample := map[int]bool{}
	for _, i := range job.Sample {
		sample[i] = true
	}
	var probed, failed, opened atomic.Int64
	var mu sync.Mutex // guards conns
	status := func(done bool) clientsStatus {
		st := clientsStatus{Done: done, Failed: int(failed.Load()), Probed: int(probed.Load()), Sessions: n, PerEdge: map[string]int{}}
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			if c == nil {
				continue
			}
			s := c.Stats()
			if c.State() == client.StateConnected {
				st.Open++
				st.PerEdge[hostOf(c.Endpoint())]++
			}
			if s.Connects > 1 || c.State() != client.StateConnected {
				st.Dropped++
			}
		}
		return st
	}
	sem := make(chan struct{}, 512)
	var wg sync.WaitGroup
	start := time.Now()
	go func() {
		for ctx.Err() == nil && opened.Load()+failed.Load() < int64(n) {
			time.Sleep(500 * time.Millisecond)
			cio.write(clientsStatus{Open: int(opened.Load()), Failed: int(failed.Load()), Sessions: n})
		}
	}()
	for i, s := range job.Sessions {
		if d := time.Until(start.Add(time.Duration(float64(i) / job.Rate * float64(time.Second)))); d > 0 {
			time.Sleep(d)
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			g := job.First + i
			api := newAPI(job.Endpoints[g%len(job.Endpoints)], s)
			cctx, ccancel := context.WithTimeout(ctx, 2*time.Minute)
			defer ccancel()
			c, err := api.Connect(cctx, client.ConnOptions{
				Endpoints:     rotate(job.Endpoints, g),
				Dialer:        dialer(sourceIP(g, job.Total), true),
				DiscardEvents: !sample[i],
				ReadTimeout:   2 * time.Minute,
				PingInterval:  50 * time.Second,
			})
			if err != nil {
				failed.Add(1)
				fmt.Fprintf(os.Stderr, "bench clients: socket %d: %v\n", g, err)
				return
			}
			mu.Lock()
			conns[i] = c
			mu.Unlock()
			opened.Add(1)
			if sample[i] {
				go func() {
					got := false
					for ev := range c.Events() {
						if !got && ev.Name == parley.EventMessageNew && strings.Contains(string(ev.Data), probeBody) {
							got = true
							probed.Add(1)
						}
					}
				}()
			}
		})
	}
	wg.Wait()
	cio.write(status(true))
	for {
		var c command
		if err := cio.read(&c); err != nil {
			break
		}
		if c.Cmd == "status" {
			cio.write(status(false))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var cw sync.WaitGroup
	for _, c := range conns {
		if c != nil {
			cw.Go(func() { c.Close() })
		}
	}
	cw.Wait()
	return nil
}

// probeBody is the body of the message sent to the sample sockets.
const probeBody = "bench probe: are you there?"

// runConnections: c.Conns idle sockets, one user each, spread over the
// edges by c.Procs client processes at c.DialRate per second, held for
// c.Hold; then a message to c.Sample of them.
func runConnections(ctx context.Context, c config, e *env) (result, error) {
	sess, err := registerUsers(ctx, c, e.endpoints, c.Conns+1)
	if err != nil {
		return nil, err
	}
	prober, sess := sess[c.Conns], sess[:c.Conns]
	// The sample: evenly spread; the prober opens a direct conversation with each.
	nSample := min(c.Sample, c.Conns)
	sampleIdx := make([]int, nSample)
	sampleConv := make([]string, nSample)
	for j := range sampleIdx {
		sampleIdx[j] = j * c.Conns / nSample
	}
	err = parallel(ctx, nSample, 16, nil, func(ctx context.Context, j int) error {
		conv, err := newAPI(e.endpoints[j%len(e.endpoints)], prober).CreateDirect(ctx, sess[sampleIdx[j]].User.ID)
		sampleConv[j] = conv.ID
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sample conversations: %w", err)
	}
	pids := e.edgePIDs()
	before := rssAll(pids)

	// Split the sockets into contiguous chunks, one per process.
	procs := min(c.Procs, c.Conns)
	kids := make([]*child, 0, procs)
	defer func() {
		for _, k := range kids {
			k.stop(time.Minute)
		}
	}()
	e.profileEdges(false)
	defer e.profileEdges(true)
	start := time.Now()
	for p := range procs {
		lo, hi := p*c.Conns/procs, (p+1)*c.Conns/procs
		job := clientsJob{Endpoints: e.endpoints, Sessions: sess[lo:hi], First: lo, Total: c.Conns, Rate: float64(c.DialRate) / float64(procs)}
		for _, i := range sampleIdx {
			if i >= lo && i < hi {
				job.Sample = append(job.Sample, i-lo)
			}
		}
		k, err := startChild("clients", job)
		if err != nil {
			return nil, err
		}
		kids = append(kids, k)
	}
	// Collect progress until every child tried every socket.
	last := make([]clientsStatus, procs)
	var lmu sync.Mutex
	stop := ticker(c, func() string {
		lmu.Lock()
		defer lmu.Unlock()
		o, f := 0, 0
		for _, s := range last {
			o, f = o+s.Open, f+s.Failed
		}
		el := time.Since(start).Seconds()
		return fmt.Sprintf("%4.0fs  open=%d of %d  failed=%d  %.0f connects/s", el, o, c.Conns, f, float64(o)/el)
	})
	var wg sync.WaitGroup
	errs := make([]error, procs)
	for p, k := range kids {
		wg.Go(func() {
			for {
				var s clientsStatus
				if err := k.recv(ctx, &s); err != nil {
					errs[p] = err
					return
				}
				lmu.Lock()
				last[p] = s
				lmu.Unlock()
				if s.Done {
					return
				}
			}
		})
	}
	wg.Wait()
	stop()
	connectTime := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	opened, failed := 0, 0
	perEdge := map[string]int{}
	for _, s := range last {
		opened, failed = opened+s.Open, failed+s.Failed
		for ep, n := range s.PerEdge {
			perEdge[ep] += n
		}
	}
	progressf(c, "%d sockets open in %s (%d failed); holding for %s", opened, connectTime.Round(time.Millisecond), failed, c.Hold)

	status := func() (clientsStatus, error) {
		var sum clientsStatus
		for _, k := range kids {
			if err := k.send(command{Cmd: "status"}); err != nil {
				return sum, err
			}
			var s clientsStatus
			if err := k.recv(ctx, &s); err != nil {
				return sum, err
			}
			sum.Open += s.Open
			sum.Dropped += s.Dropped
			sum.Probed += s.Probed
		}
		return sum, nil
	}
	holdEnd := time.Now().Add(c.Hold)
	for time.Now().Before(holdEnd) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(5*time.Second, time.Until(holdEnd))):
		}
		s, err := status()
		if err != nil {
			return nil, err
		}
		progressf(c, "holding: open=%d dropped=%d, %s left", s.Open, s.Dropped, time.Until(holdEnd).Round(time.Second))
	}
	after := rssAll(pids)

	// Show the sample is alive: one message each, through REST.
	err = parallel(ctx, nSample, 16, nil, func(ctx context.Context, j int) error {
		_, err := newAPI(e.endpoints[j%len(e.endpoints)], prober).SendMessage(ctx, sampleConv[j], client.NewClientID(), probeBody, "")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	var final clientsStatus
	deadline := time.Now().Add(30 * time.Second)
	for {
		if final, err = status(); err != nil {
			return nil, err
		}
		if final.Probed >= nSample || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	var r result
	r.add("edges", "count", float64(len(e.endpoints)))
	r.add("client processes", "count", float64(procs))
	r.add("sockets asked", "count", float64(c.Conns))
	r.add("sockets held", "count", float64(final.Open))
	r.add("connect rate", "sockets/s", float64(opened)/connectTime.Seconds())
	r.add("connect time", "s", connectTime.Seconds())
	var perSocket []float64
	for i := range pids {
		n := perEdge[hostOf(e.endpoints[i])]
		if n == 0 || before[i] == 0 || after[i] == 0 {
			continue
		}
		kib := float64(after[i]-before[i]) / float64(n)
		perSocket = append(perSocket, kib)
		r.add(fmt.Sprintf("edge %d sockets", i), "count", float64(n))
		r.add(fmt.Sprintf("edge %d RSS before", i), "MiB", float64(before[i])/1024)
		r.add(fmt.Sprintf("edge %d RSS after", i), "MiB", float64(after[i])/1024)
		r.add(fmt.Sprintf("edge %d memory per socket", i), "KiB", kib)
	}
	if len(perSocket) > 0 {
		var sum float64
		for _, v := range perSocket {
			sum += v
		}
		r.add("edge memory per socket (mean of edges)", "KiB", sum/float64(len(perSocket)))
	}
	r.add("sample sockets sent a message", "count", float64(nSample))
	r.zero("sample sockets that did not receive it", float64(nSample-final.Probed))
	r.zero("connect failures", float64(failed))
	r.zero("drops", float64(final.Dropped))
	return r, nil
}

// hostOf returns the host:port of a URL.
func hostOf(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Host
	}
	return s
}

// rssAll returns the VmRSS, in KiB, of each process (0 when unreadable).
func rssAll(pids []int) []int64 {
	out := make([]int64, len(pids))
	for i, pid := range pids {
		v := procField("/proc/"+strconv.Itoa(pid)+"/status", "VmRSS:")
		v = strings.TrimSpace(strings.TrimSuffix(v, "kB"))
		out[i], _ = strconv.ParseInt(v, 10, 64)
	}
	return out
}
