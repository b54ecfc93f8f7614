package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-im/parley"
)

// Close codes the server uses (docs/protocol.md).
const (
	closeGoingAway    = websocket.CloseGoingAway       // 1001: the edge shuts down; reconnect elsewhere
	closePolicy       = websocket.ClosePolicyViolation // 1008: unauthorized
	closeTooBig       = websocket.CloseMessageTooBig   // 1009: a frame over 64 KiB
	closeUnauthorized = 4001                           // the token expired or was revoked
)

// maxReadBytes bounds one server frame (a member.added of a large group can
// be big, but not this big).
const maxReadBytes = 16 << 20

var (
	errDropped = errors.New("client: socket dropped")
	errResume  = errors.New("client: resume refused")
)

// session is one socket. Its reader and writer goroutines are owned by
// Conn.serve, which waits for both before the next socket.
type session struct {
	ws   *websocket.Conn
	kick chan struct{} // buffered 1: the outbox may have frames to write
	ctrl chan []byte   // frames written ahead of the outbox (resume, ping, typing)
	done chan struct{} // closed by stop
	once sync.Once
	err  error // why it stopped; set before done is closed

	// Guarded by Conn.mu.
	resumed      bool
	pings        []*op
	unauthorized bool // an unauthorized error frame arrived
}

// stop ends the socket without a close frame; the first error is kept.
func (s *session) stop(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
		s.ws.Close()
	})
}

func (s *session) kickWriter() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// outcome is how one attempt (dial, then the socket's life) ended.
type outcome struct {
	err     error
	token   string // the access token the attempt used
	resumed bool   // the socket resumed before it ended
	moveOn  bool   // dial the next endpoint
	auth    bool   // refused for its credentials: refresh first
	fatal   error  // stop reconnecting
}

// run is the reconnect loop, the owner of every socket. It returns when ctx
// ends or a fatal error occurs, and then closes the Conn.
func (c *Conn) run(ctx context.Context) {
	var final error = ErrClosed
	defer func() { c.shutdown(final) }()
	bo := newBackoff(c.opt.MinBackoff, c.opt.MaxBackoff)
	refreshed := false // the last attempt was refused and the tokens refreshed since
	var delay time.Duration
	for {
		if !c.sleep(ctx, delay) || !c.waitOnline(ctx) {
			return
		}
		o := c.attempt(ctx)
		if ctx.Err() != nil {
			return
		}
		if o.auth && o.fatal == nil {
			o.fatal = c.reauthorize(ctx, o.token, refreshed)
			refreshed = o.fatal == nil
		} else if o.resumed {
			refreshed = false
		}
		if o.fatal != nil {
			final = o.fatal
			return
		}
		c.mu.Lock()
		c.lastErr = o.err
		if o.moveOn {
			c.endpoint = (c.endpoint + 1) % len(c.urls)
		}
		offline := c.offline
		if offline {
			c.setState(StateOffline)
		} else {
			c.setState(StateDisconnected)
		}
		c.mu.Unlock()
		if o.resumed {
			bo.reset()
		}
		delay = bo.next()
		if offline {
			delay = 0 // GoOnline reconnects at once
		}
	}
}

// reauthorize refreshes the tokens after the server refused used. A refusal
// right after a refresh, or a refused refresh token, is fatal; a refresh
// that failed otherwise (network) is retried at the next attempt.
func (c *Conn) reauthorize(ctx context.Context, used string, refreshed bool) error {
	if refreshed {
		return parley.ErrUnauthorized
	}
	err := c.api.refreshAfter(ctx, used)
	if errors.Is(err, parley.ErrUnauthorized) {
		return err
	}
	return nil
}

// waitOnline waits while reconnects are paused; false when ctx ended.
func (c *Conn) waitOnline(ctx context.Context) bool {
	for {
		c.mu.Lock()
		off := c.offline
		if off {
			c.setState(StateOffline)
		}
		c.mu.Unlock()
		if !off {
			return true
		}
		select {
		case <-c.wake:
		case <-ctx.Done():
			return false
		}
	}
}

// sleep waits d, or less if GoOnline is called; false when ctx ended.
func (c *Conn) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.wake:
	case <-ctx.Done():
		return false
	}
	return true
}

// shutdown closes the Conn for good: it fails every queued frame with err.
func (c *Conn) shutdown(err error) {
	c.cancel()
	c.mu.Lock()
	c.err = err
	c.setState(StateClosed)
	ops := c.out.drain()
	c.mu.Unlock()
	for _, o := range ops {
		o.finish(nil, err)
	}
	close(c.runEnd)
}

// attempt dials one endpoint and, if that works, serves the socket until it
// ends.
func (c *Conn) attempt(ctx context.Context) outcome {
	c.mu.Lock()
	c.setState(StateConnecting)
	target := c.urls[c.endpoint]
	c.mu.Unlock()

	h := http.Header{}
	for k, v := range c.opt.Header {
		h[k] = v
	}
	token := c.api.accessToken()
	if c.opt.Ticket {
		t, err := c.api.WSTicket(ctx)
		if err != nil {
			return outcome{err: err, token: token, auth: errors.Is(err, parley.ErrUnauthorized)}
		}
		target += "?ticket=" + url.QueryEscape(t)
	} else if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ws, resp, err := c.opt.Dialer.DialContext(ctx, target, h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		o := outcome{err: err, token: token, moveOn: true}
		if resp != nil {
			switch resp.StatusCode {
			case http.StatusUnauthorized:
				o.auth, o.moveOn = true, false
			case http.StatusForbidden:
				o.fatal = parley.Errorf(parley.CodeForbidden, "upgrade refused: %s", resp.Status)
			}
		}
		return o
	}
	return c.serve(ctx, ws, token)
}

// serve runs a socket's reader and writer until it ends.
func (c *Conn) serve(ctx context.Context, ws *websocket.Conn, token string) outcome {
	s := &session{
		ws:   ws,
		kick: make(chan struct{}, 1),
		ctrl: make(chan []byte, 64),
		done: make(chan struct{}),
	}
	c.mu.Lock()
	c.sess = s
	c.out.restart()
	resume, _ := json.Marshal(parley.ClientFrame{Type: parley.FrameResume, Ref: "resume", Cursor: c.cursor})
	offline := c.offline
	c.mu.Unlock()
	if offline || ctx.Err() != nil {
		// GoOffline or Close came while dialing: they saw no socket to stop.
		s.stop(errDropped)
	}

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.readLoop(s) }()
	go func() { defer wg.Done(); c.writeLoop(s, resume) }()
	wg.Wait()

	c.mu.Lock()
	c.sess = nil
	pings := s.pings
	s.pings = nil
	o := outcome{err: s.err, token: token, resumed: s.resumed, auth: s.unauthorized, moveOn: !s.resumed}
	var tooBig *op
	var ce *websocket.CloseError
	if errors.As(s.err, &ce) {
		switch ce.Code {
		case closeGoingAway:
			o.moveOn = true
		case closePolicy, closeUnauthorized:
			o.auth = true
		case closeTooBig:
			// Frames are checked against parley.MaxFrameBytes before they
			// are queued, so this server's limit is lower: fail the likely
			// culprit rather than resend it forever.
			if tooBig = c.out.largestWritten(); tooBig != nil {
				c.out.remove(tooBig.ref)
			}
		}
	}
	if errors.Is(s.err, errResume) {
		c.cursor = "" // the server refused it; start over rather than loop
	}
	c.mu.Unlock()
	if tooBig != nil {
		tooBig.finish(nil, parley.Errorf(parley.CodeTooLarge, "frame closed the socket with 1009"))
	}
	for _, p := range pings {
		p.finish(nil, ErrNotConnected)
	}
	return o
}

// writeLoop is a socket's only writer of data frames: resume first, then
// control frames and the outbox once resumed, and a WebSocket ping every
// PingInterval.
func (c *Conn) writeLoop(s *session, resume []byte) {
	write := func(b []byte) error {
		_ = s.ws.SetWriteDeadline(time.Now().Add(c.opt.WriteTimeout))
		return s.ws.WriteMessage(websocket.TextMessage, b)
	}
	if err := write(resume); err != nil {
		s.stop(err)
		return
	}
	ping := time.NewTicker(c.opt.PingInterval)
	defer ping.Stop()
	for {
		var err error
		select {
		case <-s.done:
			return
		case b := <-s.ctrl:
			err = write(b)
		case <-s.kick:
			for frames := c.take(s); len(frames) > 0 && err == nil; frames = c.take(s) {
				for _, b := range frames {
					if err = write(b); err != nil {
						break
					}
				}
			}
		case <-ping.C:
			err = s.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.opt.WriteTimeout))
		}
		if err != nil {
			s.stop(err)
			return
		}
	}
}

// take returns the next outbox frames to write on s, none before s resumed.
func (c *Conn) take(s *session) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != s || !s.resumed {
		return nil
	}
	ops := c.out.take(c.opt.Window)
	frames := make([][]byte, len(ops))
	for i, o := range ops {
		frames[i] = o.frame
	}
	return frames
}

// readLoop is a socket's only reader. Any read error ends the socket.
func (c *Conn) readLoop(s *session) {
	ws := s.ws
	extend := func() { _ = ws.SetReadDeadline(time.Now().Add(c.opt.ReadTimeout)) }
	ws.SetReadLimit(maxReadBytes)
	extend()
	ws.SetPongHandler(func(string) error { extend(); return nil })
	ws.SetPingHandler(func(data string) error {
		extend()
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.opt.WriteTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			s.stop(err)
			return
		}
		extend()
		var f parley.ServerFrame
		if err := json.Unmarshal(b, &f); err != nil {
			c.report(parley.Errorf(parley.CodeInvalid, "undecodable server frame: %v", err))
			continue
		}
		c.handle(s, &f)
	}
}

func (c *Conn) report(e *parley.Error) {
	if c.opt.OnError != nil {
		c.opt.OnError(e)
	}
}

// handle acts on one server frame, on the reader goroutine.
func (c *Conn) handle(s *session, f *parley.ServerFrame) {
	switch f.Type {
	case parley.FrameEvent:
		c.onEvent(f)
	case parley.FrameResumed:
		c.mu.Lock()
		if f.Cursor != "" {
			c.cursor = f.Cursor
		}
		s.resumed = true
		c.stats.Connects++
		c.lastErr = nil
		c.setState(StateConnected)
		c.mu.Unlock()
		s.kickWriter()
	case parley.FrameAck:
		c.answer(s, f.Ref, f.Message, nil)
	case parley.FrameError:
		e := &parley.Error{Code: parley.CodeInternal, Message: "error frame without error"}
		if f.Error != nil {
			e = &parley.Error{Code: f.Error.Code, Message: f.Error.Message}
		}
		switch {
		case e.Code == parley.CodeUnauthorized:
			// The server closes the socket; the frame it answers stays
			// queued and goes out again once the tokens are refreshed.
			c.mu.Lock()
			s.unauthorized = true
			c.mu.Unlock()
			s.stop(e)
		case f.Ref == "resume":
			// invalid: the server cannot read the cursor, so resuming from
			// it again would fail forever. Anything else (internal: the
			// server is behind, and closes with 1011) is retried as is.
			c.report(e)
			if e.Code == parley.CodeInvalid {
				s.stop(errResume)
			}
		case !c.answer(s, f.Ref, nil, e):
			c.report(e)
		}
	case parley.FramePong:
		c.mu.Lock()
		var p *op
		for i, o := range s.pings {
			if f.Ref == "" || o.ref == f.Ref {
				p = o
				s.pings = append(s.pings[:i:i], s.pings[i+1:]...)
				break
			}
		}
		c.mu.Unlock()
		if p != nil {
			p.finish(nil, nil)
		}
	}
}

// answer completes the queued frame ref; false if there is none.
func (c *Conn) answer(s *session, ref string, msg *parley.Message, err error) bool {
	if ref == "" {
		return false
	}
	c.mu.Lock()
	o := c.out.remove(ref)
	c.mu.Unlock()
	if o == nil {
		return false
	}
	o.finish(msg, err)
	s.kickWriter() // the window has room again
	return true
}

func (c *Conn) onEvent(f *parley.ServerFrame) {
	// The user's own removal ends the conversation's chain: if they are
	// added again, its events resume from the member.added event on, whose
	// prev_seq they never saw, and that is no gap.
	left := false
	if f.Event == parley.EventMemberRemoved {
		var d struct {
			UserID string `json:"user_id"`
		}
		uid := c.api.Session().User.ID
		left = json.Unmarshal(f.Data, &d) == nil && uid != "" && d.UserID == uid
	}
	c.mu.Lock()
	if f.Cursor != "" {
		c.cursor = f.Cursor
	}
	fresh, gap := c.chains.observe(f.ConversationID, f.Seq, f.PrevSeq)
	if fresh {
		c.stats.Events++
	}
	if fresh && left {
		c.chains.forget(f.ConversationID)
	}
	c.mu.Unlock()
	if gap != nil && c.opt.OnGap != nil {
		c.opt.OnGap(*gap)
	}
	if fresh && !c.opt.DiscardEvents {
		c.push(Event{
			Name:           f.Event,
			ConversationID: f.ConversationID,
			Seq:            f.Seq,
			PrevSeq:        f.PrevSeq,
			Cursor:         f.Cursor,
			Data:           f.Data,
		})
	}
}
