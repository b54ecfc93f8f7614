package edge

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-im/parley"
)

// WebSocket close codes the edge sends (docs/protocol.md).
const (
	closeGoingAway    = websocket.CloseGoingAway       // 1001: edge shutting down; reconnect elsewhere and resume
	closePolicy       = websocket.ClosePolicyViolation // 1008: unauthorized
	closeInternal     = websocket.CloseInternalServerErr
	closeSlowConsumer = 4008 // the client fell too far behind; reconnect and resume
)

var errConnClosed = errors.New("connection closed")

// conn is one WebSocket. Its reader goroutine (readLoop) handles the
// client's frames one at a time. Frames to send go into queue; a writer
// goroutine (writeLoop) runs only while the queue has something in it, so an
// idle socket costs one goroutine and no write buffer. Pings are written by
// a timer (gorilla allows WriteControl beside other writes). Events reach
// the socket from the hub's dispatcher (deliverLive, userEvent) and from
// its own catch-up goroutines.
//
// Delivery state, all guarded by mu:
//   - convs: the conversations the socket follows.
//   - lastSeq: per conversation, the seq of the last event sent; an event at
//     or below it is a duplicate, and a live event whose prev_seq differs
//     from it reveals a gap, which a catch-up from the stream repairs.
//   - catching: conversations being caught up; their live events wait in
//     pending, in arrival order, until the catch-up ends.
//   - w, u, x: the cursor (see cursor).
//   - floor: events at or below it were covered by the resume backlog.
type conn struct {
	s      *Server
	h      *hub
	uid    string
	ws     *websocket.Conn
	send   chan []byte     // frames for the writer; bounded
	ctx    context.Context // cancelled when the socket closes
	cancel context.CancelFunc
	wg     sync.WaitGroup // reader, writer, catch-ups, send waiters

	closeOnce sync.Once
	pinger    *time.Timer
	expires   time.Time // when the access token of the upgrade expires; zero: never (ticket)

	inflight chan struct{} // bounds the sends awaiting their ack

	mu          sync.Mutex
	queue       [][]byte // frames for the writer, at most Config.SendQueue
	writing     bool     // a writer goroutine owns the socket's writes
	closeCode   int      // the close frame to send once the queue is written; 0: none
	closeText   string
	closed      bool
	started     bool // a resume was received
	resuming    bool
	convs       map[string]bool
	lastSeq     map[string]uint64
	catching    map[string]bool
	trust       map[string]bool // accept the next live event of the conversation without a chain check
	pending     []*liveEvent
	pendingUser []*parley.Event
	w, u, floor uint64
	x           map[string]uint64
}

// maxInflightSends bounds how many sends of one socket may await their ack.
const maxInflightSends = 256

func newConn(s *Server, uid string, ws *websocket.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		s: s, h: s.hub, uid: uid, ws: ws,
		ctx:      ctx,
		cancel:   cancel,
		inflight: make(chan struct{}, maxInflightSends),
		convs:    make(map[string]bool),
		lastSeq:  make(map[string]uint64),
		catching: make(map[string]bool),
		trust:    make(map[string]bool),
		x:        make(map[string]uint64),
	}
}

// close makes the writer send what is queued, then a close frame with code
// (none for 0), and close the connection; the reader then stops.
func (c *conn) close(code int, text string) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.closeCode, c.closeText = code, text
		convs := c.followedLocked()
		c.startWriterLocked()
		c.mu.Unlock()
		if c.pinger != nil {
			c.pinger.Stop()
		}
		c.cancel()
		c.h.remove(c, convs)
	})
}

// startPings writes a WebSocket ping every pingEvery until the socket closes.
func (c *conn) startPings() {
	c.pinger = time.AfterFunc(pingEvery, func() {
		if c.ctx.Err() != nil {
			return
		}
		if c.expired() {
			c.close(closePolicy, "token expired")
			return
		}
		if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
			c.close(0, "")
			return
		}
		c.pinger.Reset(pingEvery)
	})
}

// abort drops the connection without a closing handshake.
func (c *conn) abort() {
	c.close(0, "")
	_ = c.ws.NetConn().Close()
}

func (c *conn) wait() { c.wg.Wait() }

// expired reports whether the access token the socket was opened with has
// expired: the client must refresh it and reconnect (then resume).
func (c *conn) expired() bool { return !c.expires.IsZero() && time.Now().After(c.expires) }

func (c *conn) followedLocked() []string {
	out := make([]string, 0, len(c.convs))
	for cid, ok := range c.convs {
		if ok {
			out = append(out, cid)
		}
	}
	return out
}

// enqueueLocked hands a frame to the writer; a socket whose queue is full is
// closed rather than allowed to hold anyone up.
func (c *conn) enqueueLocked(b []byte) {
	if c.closed {
		return
	}
	if len(c.queue) >= c.s.cfg.SendQueue {
		c.closed = true
		c.queue = nil
		go c.close(closeSlowConsumer, "too slow")
		return
	}
	c.queue = append(c.queue, b)
	c.s.met.eventsOut.Inc()
	c.startWriterLocked()
}

func (c *conn) startWriterLocked() {
	if !c.writing {
		c.writing = true
		c.wg.Add(1)
		go c.writeLoop()
	}
}

func (c *conn) reply(f parley.ServerFrame) {
	b, err := json.Marshal(f)
	if err != nil {
		c.s.log.Error("encode frame", "err", err)
		return
	}
	c.mu.Lock()
	c.enqueueLocked(b)
	c.mu.Unlock()
}

func (c *conn) replyError(ref string, err error) {
	code := parley.ErrorCode(err)
	if code == parley.CodeInternal && !errors.Is(err, context.Canceled) {
		c.s.log.Error("frame failed", "user", c.uid, "err", err)
	}
	c.reply(parley.ServerFrame{Type: parley.FrameError, Ref: ref, Error: &parley.ErrorBody{Code: code, Message: parley.ErrorMessage(err)}})
	if code == parley.CodeUnauthorized {
		c.close(closePolicy, "unauthorized")
	}
}

func (c *conn) cursorLocked() string {
	return cursor{W: c.w, U: c.u, X: c.x}.encode()
}

// deliverLive takes an event from the dispatcher.
func (c *conn) deliverLive(le *liveEvent) {
	c.mu.Lock()
	leave := c.deliverLocked(le)
	c.mu.Unlock()
	if leave != "" {
		c.h.unfollow(c, leave)
	}
}

// deliverLocked sends a live event, or parks it while its conversation
// catches up, or starts a catch-up when the event reveals a gap. It returns
// a conversation the socket must stop following.
func (c *conn) deliverLocked(le *liveEvent) (leave string) {
	ev := le.ev
	cid := ev.ConversationID
	if c.closed || !c.started || ev.Seq <= c.floor {
		return ""
	}
	if c.resuming || c.catching[cid] {
		c.pending = append(c.pending, le)
		return ""
	}
	if !c.convs[cid] {
		return ""
	}
	last := c.lastSeq[cid]
	if ev.Seq <= last {
		return ""
	}
	if last != 0 && ev.PrevSeq != last && !c.trust[cid] {
		c.startCatchUpLocked(cid, last)
		c.pending = append(c.pending, le)
		return ""
	}
	delete(c.trust, cid)
	c.lastSeq[cid] = ev.Seq
	c.w = max(c.w, ev.Seq)
	c.enqueueLocked(le.frame(c.cursorLocked()))
	return c.afterLocked(ev)
}

// afterLocked applies what an event means for the socket itself: a socket
// whose user was removed stops following the conversation.
func (c *conn) afterLocked(ev *parley.Event) (leave string) {
	if ev.Kind != parley.EventMemberRemoved || ev.UserID != c.uid {
		return ""
	}
	cid := ev.ConversationID
	delete(c.convs, cid)
	delete(c.lastSeq, cid)
	delete(c.trust, cid)
	return cid
}

// userEvent takes an event of the user's own subject from the dispatcher.
func (c *conn) userEvent(ev *parley.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || !c.started {
		return
	}
	if c.resuming {
		c.pendingUser = append(c.pendingUser, ev)
		return
	}
	c.applyUserLocked(ev)
}

func (c *conn) applyUserLocked(ev *parley.Event) {
	if ev.Seq <= c.u {
		return
	}
	c.u = ev.Seq
	if ev.Kind == parley.EventMemberAdded && ev.ConversationID != "" && !c.convs[ev.ConversationID] {
		// Follow the conversation from the event that added the user on.
		c.convs[ev.ConversationID] = true
		c.lastSeq[ev.ConversationID] = ev.ConvPrevSeq
		c.startCatchUpLocked(ev.ConversationID, ev.ConvPrevSeq)
	}
}

// recheck looks for events missed while the edge was disconnected from NATS.
func (c *conn) recheck() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || !c.started || c.resuming {
		return
	}
	for cid := range c.convs {
		if last := c.lastSeq[cid]; last != 0 && !c.catching[cid] {
			c.startCatchUpLocked(cid, last)
		}
	}
	c.wg.Add(1)
	go c.userCatchUp(c.u)
}

// writeLoop writes the queue until it is empty, then exits; after close it
// ends with the close frame and closes the connection, and no writer starts
// again.
func (c *conn) writeLoop() {
	defer c.wg.Done()
	var batch [][]byte
	for {
		c.mu.Lock()
		batch, c.queue = c.queue, batch[:0]
		closed, code, text := c.closed, c.closeCode, c.closeText
		if len(batch) == 0 && !closed {
			c.writing = false
			c.queue = nil // an idle socket holds no queue
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		for i, b := range batch {
			_ = c.ws.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
				c.close(0, "")
				_ = c.ws.Close()
				return
			}
			batch[i] = nil
		}
		if len(batch) == 0 && closed {
			if code != 0 {
				_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(writeWait))
			}
			_ = c.ws.Close()
			return
		}
	}
}
