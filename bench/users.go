package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-im/parley/client"
)

// password is every benchmark user's password.
const password = "bench-password"

// socketsPerSource is how many sockets share one source address; each
// address has about 28,000 ephemeral ports here, and a socket bound before
// connecting holds its port for that address whatever the destination.
const socketsPerSource = 10000

// sourceIP returns the source address of socket i: 127.0.0.2, 127.0.0.3, ...
func sourceIP(i, total int) net.IP {
	n := min(250, max(1, (total+socketsPerSource-1)/socketsPerSource))
	return net.IPv4(127, 0, 0, byte(2+i%n))
}

// dialer returns a WebSocket dialer bound to src; small buffers suit idle sockets.
func dialer(src net.IP, small bool) *websocket.Dialer {
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 30 * time.Second}
	d := &websocket.Dialer{HandshakeTimeout: 30 * time.Second, NetDialContext: nd.DialContext}
	if small {
		d.ReadBufferSize, d.WriteBufferSize = 1024, 1024
	}
	return d
}

// rotate returns endpoints starting at the i-th, so that socket i connects
// to edge i%len first and fails over to the others.
func rotate(endpoints []string, i int) []string {
	out := make([]string, 0, len(endpoints))
	for j := range endpoints {
		out = append(out, endpoints[(i+j)%len(endpoints)])
	}
	return out
}

// httpClient is shared by every REST call of the harness: keep-alive
// connections, so that thousands of calls do not use up ports.
var httpClient = &http.Client{
	Timeout: 60 * time.Second,
	Transport: &http.Transport{
		MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second,
		DialContext: (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
	},
}

func newAPI(base string, s client.Session) *client.API {
	return client.New(base, client.WithHTTPClient(httpClient), client.WithSession(s))
}

// parallel calls fn(i) for i in [0, n) on workers goroutines, and returns
// the first error. done, when set, counts the calls that returned.
func parallel(ctx context.Context, n, workers int, done *atomic.Int64, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
				if done != nil {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		return err
	}
	return nil
}

// runTag tells one run's usernames from another's, for --target.
func runTag() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 6)
	rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// registerUsers registers n users over the endpoints, in parallel.
func registerUsers(ctx context.Context, c config, endpoints []string, n int) ([]client.Session, error) {
	tag := runTag()
	sess := make([]client.Session, n)
	var done atomic.Int64
	stop := ticker(c, func() string { return fmt.Sprintf("registering users: %d of %d", done.Load(), n) })
	defer stop()
	start := time.Now()
	err := parallel(ctx, n, 32, &done, func(ctx context.Context, i int) error {
		api := client.New(endpoints[i%len(endpoints)], client.WithHTTPClient(httpClient))
		s, err := api.Register(ctx, fmt.Sprintf("b%s_%d", tag, i), password, "")
		if err != nil {
			return fmt.Errorf("register user %d: %w", i, err)
		}
		sess[i] = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	progressf(c, "registered %d users in %s", n, time.Since(start).Round(time.Millisecond))
	return sess, nil
}

// ticker prints line() to stderr every second until stopped.
func ticker(c config, line func() string) (stop func()) {
	if c.Quiet {
		return func() {}
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				progressf(c, "%s", line())
			}
		}
	}()
	return func() { close(quit); <-done }
}
