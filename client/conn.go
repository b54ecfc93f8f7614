package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-im/parley"
)

// ConnOptions configures a Conn. The zero value of each field picks the
// default it names.
type ConnOptions struct {
	// Endpoints are the edges to connect to, each a base URL
	// ("http://host:port") or a WebSocket URL ("ws://host:port/v1/ws").
	// They are tried round robin: a reconnect moves to the next one when the
	// edge went away (close 1001), could not be reached, or dropped the
	// socket before it resumed. Empty: the API's base URL.
	Endpoints []string
	// Ticket authenticates each upgrade with ?ticket= from
	// POST /v1/ws/ticket, as a browser must, instead of the Authorization
	// header. false: the header.
	Ticket bool
	// Header holds extra upgrade headers, such as Origin. nil: none.
	Header http.Header
	// Dialer dials the socket. nil: a dialer with a 10 s handshake timeout.
	Dialer *websocket.Dialer
	// Cursor is the cursor the first connect resumes from, for a client
	// that saved it. "": the first connect sends resume without a cursor.
	Cursor string
	// Offline makes Connect return at once, with reconnects paused as by
	// GoOffline, so that sends can be queued before the first connect.
	// false: Connect waits for the first socket to resume.
	Offline bool

	// MinBackoff and MaxBackoff bound the reconnect delay, which doubles
	// from MinBackoff to MaxBackoff, with jitter. 0: 100 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration
	// QueueSize bounds the frames that await their answers, queued or
	// written; a send beyond it fails with ErrQueueFull. 0: 10,000.
	QueueSize int
	// Window bounds the frames written to a socket and not yet answered.
	// 0: 256.
	Window int
	// PingInterval is how often the client sends a WebSocket ping. 0: 25 s.
	PingInterval time.Duration
	// ReadTimeout closes a socket on which nothing (not even a ping or a
	// pong) arrived for that long. 0: 60 s.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write. 0: 10 s.
	WriteTimeout time.Duration

	// DiscardEvents drops events after accounting for them (cursor, de-dup,
	// gaps) instead of delivering them on Events. false: deliver them.
	DiscardEvents bool
	// OnGap is called for each gap in a conversation's prev_seq chain, on
	// the reader goroutine: it must not block. nil: gaps are only counted.
	OnGap func(Gap)
	// OnError is called for each error frame that answers no pending frame
	// (a typing frame's, say), on the reader goroutine: it must not block.
	// nil: such errors are dropped.
	OnError func(*parley.Error)
}

func (o ConnOptions) withDefaults(a *API) ConnOptions {
	if len(o.Endpoints) == 0 {
		o.Endpoints = []string{a.base}
	}
	if o.Dialer == nil {
		o.Dialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, Proxy: http.ProxyFromEnvironment}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.MinBackoff, 100*time.Millisecond)
	def(&o.MaxBackoff, 10*time.Second)
	def(&o.PingInterval, 25*time.Second)
	def(&o.ReadTimeout, 60*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	if o.QueueSize == 0 {
		o.QueueSize = 10000
	}
	if o.Window == 0 {
		o.Window = 256
	}
	return o
}

// State is where a Conn stands.
type State int

// States of a Conn.
const (
	StateConnecting   State = iota // dialing, or resuming: the queue waits
	StateConnected                 // resumed: live events, the queue flows
	StateDisconnected              // waiting for the next attempt
	StateOffline                   // reconnects paused by GoOffline
	StateClosed                    // closed by Close, or for good (see Err)
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	case StateOffline:
		return "offline"
	case StateClosed:
		return "closed"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Errors of a Conn.
var (
	ErrClosed       = errors.New("client: connection closed")
	ErrNotConnected = errors.New("client: not connected")
)

// Stats counts what a Conn did since Connect.
type Stats struct {
	Connects   int // sockets that resumed
	Events     int // events accounted for (delivered, unless DiscardEvents)
	Duplicates int // events dropped because their seq was seen already
	Gaps       int // breaks noticed in prev_seq chains
	Queued     int // frames awaiting their answers now
}

// Conn is a WebSocket session with Parley that outlives its sockets: it
// reconnects, resumes, and keeps queued frames across reconnects. See the
// package documentation for its concurrency contract.
type Conn struct {
	api    *API
	opt    ConnOptions        // immutable after Connect
	urls   []string           // WebSocket URLs of opt.Endpoints; immutable
	cancel context.CancelFunc // stops run and dispatch
	wake   chan struct{}      // buffered 1: GoOnline cuts a wait short
	runEnd chan struct{}      // closed when run returns
	events chan Event         // closed when dispatch returns
	refs   atomic.Uint64      // ref counter
	close  sync.Once

	evMu   sync.Mutex    // guards evq
	evq    []Event       // events not yet handed to the application
	evWake chan struct{} // buffered 1: evq grew

	mu       sync.Mutex // guards everything below; never held during I/O
	state    State
	stateCh  chan struct{} // closed and replaced at each state change
	err      error         // why the Conn closed, once StateClosed
	lastErr  error         // why the last socket failed
	offline  bool
	sess     *session // the current socket; nil between sockets
	out      outbox
	chains   *chains
	cursor   string
	endpoint int // index into urls of the next dial
	stats    Stats
}

// Connect opens a Conn acting as the API's user and, unless opt.Offline,
// waits until its first socket resumed. The Conn keeps reconnecting until
// Close, or until the server refuses its credentials for good.
func (a *API) Connect(ctx context.Context, opt ConnOptions) (*Conn, error) {
	opt = opt.withDefaults(a)
	c := &Conn{
		api:     a,
		opt:     opt,
		wake:    make(chan struct{}, 1),
		runEnd:  make(chan struct{}),
		events:  make(chan Event),
		evWake:  make(chan struct{}, 1),
		stateCh: make(chan struct{}),
		offline: opt.Offline,
		out:     outbox{limit: opt.QueueSize},
		chains:  newChains(),
		cursor:  opt.Cursor,
	}
	for _, e := range opt.Endpoints {
		u, err := wsURL(e)
		if err != nil {
			return nil, err
		}
		c.urls = append(c.urls, u)
	}
	if opt.Offline {
		c.state = StateOffline
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(runCtx)
	go c.dispatch(runCtx)
	if opt.Offline {
		return c, nil
	}
	if err := c.WaitConnected(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// wsURL turns an endpoint into the URL of its WebSocket: http(s) becomes
// ws(s), and an empty path becomes /v1/ws.
func wsURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("client: endpoint %q: %w", endpoint, err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("client: endpoint %q: scheme must be http, https, ws or wss", endpoint)
	}
	if u.Host == "" {
		return "", fmt.Errorf("client: endpoint %q has no host", endpoint)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/v1/ws"
	}
	return u.String(), nil
}

// Events returns the events, in the order the server sent them, without
// those already delivered. It is closed by Close. Events wait in an
// unbounded buffer until read, so that a slow reader never stalls acks;
// set DiscardEvents if you read none.
func (c *Conn) Events() <-chan Event { return c.events }

// State returns where the Conn stands now.
func (c *Conn) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// WaitState waits until the Conn is in state want. It fails once the Conn
// is closed (unless want is StateClosed), and when ctx ends, naming the last
// connection error if any.
func (c *Conn) WaitState(ctx context.Context, want State) error {
	for {
		c.mu.Lock()
		st, ch, err, last := c.state, c.stateCh, c.err, c.lastErr
		c.mu.Unlock()
		if st == want {
			return nil
		}
		if st == StateClosed {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("client: waiting for %s: %w (last error: %v)", want, ctx.Err(), last)
			}
			return fmt.Errorf("client: waiting for %s: %w", want, ctx.Err())
		}
	}
}

// WaitConnected waits until a socket has resumed.
func (c *Conn) WaitConnected(ctx context.Context) error { return c.WaitState(ctx, StateConnected) }

// Err returns why the Conn closed: ErrClosed after Close, or the error that
// ended it (unauthorized: the refresh token was refused). nil while open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Cursor returns the last cursor the server sent; a reconnect resumes from it.
func (c *Conn) Cursor() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cursor
}

// Endpoint returns the WebSocket URL of the current socket, or of the next
// dial between sockets.
func (c *Conn) Endpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.urls[c.endpoint%len(c.urls)]
}

// Stats returns the Conn's counters.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Duplicates, s.Gaps = int(c.chains.dups), int(c.chains.gaps)
	s.Queued = len(c.out.ops)
	return s
}

// Drop closes the current socket abruptly, as a lost network would, and
// lets the Conn reconnect and resume as usual.
func (c *Conn) Drop() {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s != nil {
		s.stop(errDropped)
	}
}

// GoOffline drops the current socket and pauses reconnecting until
// GoOnline. Frames sent meanwhile are queued.
func (c *Conn) GoOffline() {
	c.mu.Lock()
	c.offline = true
	c.mu.Unlock()
	select {
	case <-c.wake: // a GoOnline from before must not cut the next wait short
	default:
	}
	c.Drop()
}

// GoOnline resumes reconnecting, at once.
func (c *Conn) GoOnline() {
	c.mu.Lock()
	c.offline = false
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Close closes the socket with a normal closure, stops reconnecting, fails
// every queued frame with ErrClosed and closes Events. It waits for every
// goroutine of the Conn to return.
func (c *Conn) Close() error {
	c.close.Do(func() {
		c.cancel() // before reading sess: serve checks ctx after setting it
		c.mu.Lock()
		s := c.sess
		c.mu.Unlock()
		if s != nil {
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			_ = s.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			s.stop(ErrClosed)
		}
	})
	<-c.runEnd
	for range c.events { // wait for dispatch to close it
	}
	return nil
}

// setState changes the state; called with mu held.
func (c *Conn) setState(st State) {
	if c.state == st {
		return
	}
	c.state = st
	close(c.stateCh)
	c.stateCh = make(chan struct{})
}

func (c *Conn) newRef() string { return "r" + strconv.FormatUint(c.refs.Add(1), 10) }

// push hands an event to dispatch.
func (c *Conn) push(e Event) {
	c.evMu.Lock()
	c.evq = append(c.evq, e)
	c.evMu.Unlock()
	select {
	case c.evWake <- struct{}{}:
	default:
	}
}

// dispatch moves events from the unbounded buffer to Events, until ctx
// ends; then it closes Events, dropping what was not read.
func (c *Conn) dispatch(ctx context.Context) {
	defer close(c.events)
	for {
		c.evMu.Lock()
		batch := c.evq
		c.evq = nil
		c.evMu.Unlock()
		for _, e := range batch {
			select {
			case c.events <- e:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-c.evWake:
		case <-ctx.Done():
			return
		}
	}
}
