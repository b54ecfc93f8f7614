package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/streams"
)

// Live delivery tuning.
const (
	liveBuffer      = 1 << 16          // republished events buffered between NATS and the dispatcher
	subscribeLinger = 30 * time.Second // a conversation followed only for a REST send stays subscribed this long
	janitorEvery    = 10 * time.Second
)

// hub follows, by interest, the live subjects of the conversations that this
// edge's sockets belong to (and that REST senders just wrote to), and hands
// each republished event to the sockets of that conversation.
//
// All subscriptions deliver into one channel drained by one dispatcher
// goroutine, so events reach every socket in stream order: a socket's
// cursor watermark relies on it.
type hub struct {
	s          *Server
	userPrefix string // the user live subjects' prefix, to tell them apart in the dispatcher
	in         chan *nats.Msg
	quit       chan struct{}
	wg         sync.WaitGroup // dispatcher, janitor, status watcher
	conv       jetstream.Stream
	user       jetstream.Stream
	persist    jetstream.Consumer
	floor      *persistFloor
	recheck    chan struct{} // a slow-consumer drop asks every socket to check its conversations
	ctl        *nats.Subscription

	mu      sync.Mutex
	convs   map[string]*convSub       // guarded by mu
	users   map[string]*userSub       // guarded by mu
	conns   map[*conn]struct{}        // guarded by mu
	waiters map[string][]chan liveAck // guarded by mu; by Nats-Msg-Id
	stopped bool                      // guarded by mu
}

type convSub struct {
	sub     *nats.Subscription
	conns   map[*conn]struct{}
	temp    int       // REST senders waiting on this conversation
	lastUse time.Time // when temp last dropped
}

type userSub struct {
	sub   *nats.Subscription
	conns map[*conn]struct{}
}

// liveAck is what a publisher learns when its event comes back republished.
type liveAck struct{ seq, prev uint64 }

func newHub(s *Server) *hub {
	return &hub{
		s:          s,
		userPrefix: string(s.layout.UserLive("")),
		in:         make(chan *nats.Msg, liveBuffer),
		quit:       make(chan struct{}),
		convs:      make(map[string]*convSub),
		users:      make(map[string]*userSub),
		conns:      make(map[*conn]struct{}),
		waiters:    make(map[string][]chan liveAck),
	}
}

func (h *hub) start(ctx context.Context) error {
	var err error
	l := h.s.layout
	if h.conv, err = h.s.js.Stream(ctx, l.ConvStream()); err != nil {
		return fmt.Errorf("edge: stream %s: %w", l.ConvStream(), err)
	}
	if h.user, err = h.s.js.Stream(ctx, l.UserStream()); err != nil {
		return fmt.Errorf("edge: stream %s: %w", l.UserStream(), err)
	}
	if h.persist, err = h.s.js.Consumer(ctx, l.ConvStream(), streams.DurablePersist); err != nil {
		return fmt.Errorf("edge: consumer %s: %w", streams.DurablePersist, err)
	}
	h.ctl, err = h.s.nc.Subscribe(string(l.ControlAll()), func(m *nats.Msg) {
		h.s.cache.invalidate(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:])
	})
	if err != nil {
		return fmt.Errorf("edge: subscribe %s: %w", l.ControlAll(), err)
	}
	h.floor = newPersistFloor(h.persist)
	h.recheck = make(chan struct{}, 1)
	// Live events dropped because the dispatcher fell behind (a slow
	// consumer) are found again like those missed while disconnected.
	prev := h.s.nc.ErrorHandler()
	h.s.nc.SetErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) {
			select {
			case h.recheck <- struct{}{}:
			default:
			}
		}
		if prev != nil {
			prev(nc, sub, err)
		}
	})
	status := h.s.nc.StatusChanged(nats.CONNECTED)
	h.wg.Add(4)
	go func() { defer h.wg.Done(); h.floor.run(h.quit) }()
	go h.dispatch()
	go h.janitor()
	go h.watchStatus(status)
	return nil
}

// stop closes every socket with a going-away code, so that clients
// reconnect to another edge and resume, and drops every subscription.
func (h *hub) stop() { h.shutdown(false) }

// abort drops every socket at once, without a closing handshake, as a
// crash would.
func (h *hub) abort() { h.shutdown(true) }

func (h *hub) shutdown(abrupt bool) {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	h.stopped = true
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		if abrupt {
			c.abort()
		} else {
			c.close(closeGoingAway, "server shutting down")
		}
	}
	for _, c := range conns {
		c.wait()
	}
	h.mu.Lock()
	for _, cs := range h.convs {
		_ = cs.sub.Unsubscribe()
	}
	for _, us := range h.users {
		_ = us.sub.Unsubscribe()
	}
	clear(h.convs)
	clear(h.users)
	h.mu.Unlock()
	if h.ctl != nil {
		_ = h.ctl.Unsubscribe()
	}
	close(h.quit)
	h.wg.Wait()
}

// add registers a socket; it fails once the hub is stopping.
func (h *hub) add(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return false
	}
	h.conns[c] = struct{}{}
	h.s.met.sockets.Inc()
	return true
}

// remove forgets a closed socket and everything it followed.
func (h *hub) remove(c *conn, convs []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.conns[c]; !ok {
		return
	}
	delete(h.conns, c)
	h.s.met.sockets.Dec()
	for _, cid := range convs {
		h.unfollowLocked(c, cid)
	}
	if us := h.users[c.uid]; us != nil {
		delete(us.conns, c)
		if len(us.conns) == 0 {
			_ = us.sub.Unsubscribe()
			delete(h.users, c.uid)
		}
	}
}

func (h *hub) subscribeLocked(cid string) (*convSub, error) {
	cs := h.convs[cid]
	if cs != nil {
		return cs, nil
	}
	sub, err := h.s.nc.ChanSubscribe(string(h.s.layout.Live(cid)), h.in)
	if err != nil {
		return nil, fmt.Errorf("subscribe live %s: %w", cid, err)
	}
	cs = &convSub{sub: sub, conns: make(map[*conn]struct{}), lastUse: time.Now()}
	h.convs[cid] = cs
	return cs, nil
}

// follow makes c receive the live events of the conversations.
func (h *hub) follow(c *conn, cids ...string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.conns[c]; !ok {
		return errConnClosed
	}
	for _, cid := range cids {
		cs, err := h.subscribeLocked(cid)
		if err != nil {
			return err
		}
		cs.conns[c] = struct{}{}
	}
	return nil
}

func (h *hub) unfollow(c *conn, cid string) {
	h.mu.Lock()
	h.unfollowLocked(c, cid)
	h.mu.Unlock()
}

func (h *hub) unfollowLocked(c *conn, cid string) {
	if cs := h.convs[cid]; cs != nil {
		delete(cs.conns, c)
		cs.lastUse = time.Now()
	}
}

// followUser makes c receive its user's own events.
func (h *hub) followUser(c *conn) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	us := h.users[c.uid]
	if us == nil {
		sub, err := h.s.nc.ChanSubscribe(string(h.s.layout.UserLive(c.uid)), h.in)
		if err != nil {
			return fmt.Errorf("subscribe user %s: %w", c.uid, err)
		}
		us = &userSub{sub: sub, conns: make(map[*conn]struct{})}
		h.users[c.uid] = us
	}
	us.conns[c] = struct{}{}
	return nil
}

// acquire keeps the edge subscribed to a conversation while a publisher
// waits for its event to come back; release lets it go after a linger.
func (h *hub) acquire(cid string) (release func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs, err := h.subscribeLocked(cid)
	if err != nil {
		return nil, err
	}
	cs.temp++
	return func() {
		h.mu.Lock()
		cs.temp--
		cs.lastUse = time.Now()
		h.mu.Unlock()
	}, nil
}

// await registers interest in the republished copy of the event published
// with msgID. cancel must be called if the caller stops waiting.
func (h *hub) await(msgID string) chan liveAck {
	ch := make(chan liveAck, 1)
	h.mu.Lock()
	h.waiters[msgID] = append(h.waiters[msgID], ch)
	h.mu.Unlock()
	return ch
}

func (h *hub) cancel(msgID string, ch chan liveAck) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.waiters[msgID]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(h.waiters, msgID)
	} else {
		h.waiters[msgID] = ws
	}
}

func (h *hub) dispatch() {
	defer h.wg.Done()
	var scratch []*conn
	for {
		select {
		case <-h.quit:
			return
		case m := <-h.in:
			scratch = h.handle(m, scratch[:0])
		}
	}
}

func (h *hub) handle(m *nats.Msg, scratch []*conn) []*conn {
	seq, prev, err := streams.LiveSeq(m.Header)
	if err != nil {
		h.s.log.Error("live event without sequence", "subject", m.Subject, "err", err)
		return scratch
	}
	ev, err := streams.Decode(m.Data)
	if err != nil {
		h.s.log.Error("undecodable live event", "subject", m.Subject, "seq", seq, "err", err)
		return scratch
	}
	ev.Seq, ev.PrevSeq = seq, prev
	h.s.met.eventsIn.Inc()
	if uid, ok := strings.CutPrefix(m.Subject, h.userPrefix); ok {
		h.mu.Lock()
		if us := h.users[uid]; us != nil {
			for c := range us.conns {
				scratch = append(scratch, c)
			}
		}
		h.mu.Unlock()
		for _, c := range scratch {
			c.userEvent(ev)
		}
		return scratch
	}
	cid, ok := h.s.layout.ConversationFromSubject(m.Subject)
	if !ok {
		return scratch
	}
	ev.ConversationID = cid
	le := newLiveEvent(ev)
	h.mu.Lock()
	if id := m.Header.Get(jetstream.MsgIDHeader); id != "" {
		for _, w := range h.waiters[id] {
			w <- liveAck{seq: seq, prev: prev}
		}
		delete(h.waiters, id)
	}
	if cs := h.convs[cid]; cs != nil {
		for c := range cs.conns {
			scratch = append(scratch, c)
		}
	}
	h.mu.Unlock()
	for _, c := range scratch {
		c.deliverLive(le)
	}
	return scratch
}

// janitor drops subscriptions nobody needs any more.
func (h *hub) janitor() {
	defer h.wg.Done()
	t := time.NewTicker(janitorEvery)
	defer t.Stop()
	for {
		select {
		case <-h.quit:
			return
		case now := <-t.C:
			h.mu.Lock()
			for cid, cs := range h.convs {
				if len(cs.conns) == 0 && cs.temp == 0 && now.Sub(cs.lastUse) > subscribeLinger {
					_ = cs.sub.Unsubscribe()
					delete(h.convs, cid)
				}
			}
			h.mu.Unlock()
		}
	}
}

// watchStatus reacts to a NATS reconnect: announcements and live events
// may have been missed while disconnected, so caches are dropped and every
// socket checks each of its conversations against the stream.
func (h *hub) watchStatus(status chan nats.Status) {
	defer h.wg.Done()
	defer h.s.nc.RemoveStatusListener(status)
	for {
		select {
		case <-h.quit:
			return
		case <-h.recheck:
			h.recheckAll()
		case _, ok := <-status:
			if !ok {
				return
			}
			h.s.cache.invalidateAll()
			h.recheckAll()
		}
	}
}

// recheckAll makes every socket look for events it may have missed.
func (h *hub) recheckAll() {
	h.mu.Lock()
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.recheck()
	}
}

// liveEvent is an event with its frame rendered once for every socket; only
// the cursor differs between sockets.
type liveEvent struct {
	ev   *parley.Event
	head []byte // the frame up to the cursor's value
}

func newLiveEvent(ev *parley.Event) *liveEvent {
	data, err := json.Marshal(ev.Data())
	if err != nil {
		data = []byte("{}")
	}
	cid, _ := json.Marshal(ev.ConversationID)
	b := make([]byte, 0, len(data)+160)
	b = append(b, `{"type":"event","event":"`...)
	b = append(b, ev.Kind...)
	b = append(b, `","conversation_id":`...)
	b = append(b, cid...)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `,"prev_seq":`...)
	b = strconv.AppendUint(b, ev.PrevSeq, 10)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	b = append(b, `,"cursor":"`...)
	return &liveEvent{ev: ev, head: b}
}

func (le *liveEvent) frame(cursor string) []byte {
	b := make([]byte, 0, len(le.head)+len(cursor)+2)
	b = append(b, le.head...)
	b = append(b, cursor...)
	return append(b, `"}`...)
}
