package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/streams"
)

// resumePage is how many stored events one backlog query returns.
const resumePage = 500

// flushWait bounds the round trip that makes sure new subscriptions are in place.
const flushWait = 10 * time.Second

// resumeWait bounds how long a resume waits for the persist workers to
// store everything the backlog must contain. Past it the client is told to
// come back (close 1011), and loses nothing.
const resumeWait = 30 * time.Second

// resume starts delivery to the socket: from the given cursor if there is
// one (everything missed, once each, in order), else from now. It ends by
// sending `resumed`.
func (c *conn) resume(ctx context.Context, raw string) error {
	var cur cursor
	if raw != "" {
		var err error
		if cur, err = decodeCursor(raw); err != nil {
			return err
		}
	}
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return parley.Errorf(parley.CodeInvalid, "already resumed")
	}
	c.started, c.resuming = true, true
	c.mu.Unlock()

	cids, err := c.s.store.ConversationIDs(ctx, c.uid)
	if err != nil {
		return fmt.Errorf("resume: conversations: %w", err)
	}
	c.mu.Lock()
	for _, cid := range cids {
		c.convs[cid] = true
	}
	c.mu.Unlock()
	if err := c.h.followUser(c); err != nil {
		return err
	}
	if err := c.h.follow(c, cids...); err != nil {
		return err
	}
	// Every event stored after this point reaches us live.
	if err := c.s.nc.FlushTimeout(flushWait); err != nil {
		return fmt.Errorf("resume: flush: %w", err)
	}
	top, err := c.s.streamLastSeq(ctx)
	if err != nil {
		return err
	}
	utop, err := c.s.userLastSeq(ctx, c.uid)
	if err != nil {
		return err
	}
	if raw == "" {
		c.finishResume(top, utop)
		return nil
	}

	since := make(map[string]uint64, len(cids))
	for _, cid := range cids {
		since[cid] = cur.W
		if x, ok := cur.X[cid]; ok {
			since[cid] = x
		}
	}
	// A conversation joined after the cursor's user position is followed
	// from the event that added the user.
	err = c.s.scanUser(ctx, c.uid, cur.U+1, func(ev *parley.Event) {
		if s, ok := since[ev.ConversationID]; ok && ev.Kind == parley.EventMemberAdded && ev.ConvSeq > 0 {
			since[ev.ConversationID] = min(s, ev.ConvSeq-1)
		}
	})
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, resumeWait)
	err = c.s.waitPersistedTo(wctx, top)
	cancel()
	if err != nil {
		return err
	}
	start := make(map[string]uint64, len(since))
	for cid, s := range since {
		start[cid] = s
	}
	for {
		evs, err := c.s.store.EventsSince(ctx, since, top, resumePage)
		if err != nil {
			return fmt.Errorf("resume: backlog: %w", err)
		}
		if len(evs) == 0 {
			break
		}
		for i := range evs {
			ev := &evs[i]
			c.deliverBacklog(ev, cur.W, start)
			since[ev.ConversationID] = ev.Seq
		}
	}
	c.finishResume(max(top, cur.W), max(utop, cur.U))
	return nil
}

// deliverBacklog sends one event of the resume backlog. The backlog comes
// in stream order, so once the event at seq s is sent, every conversation
// has everything up to s: the cursor of the frame says so.
func (c *conn) deliverBacklog(ev *parley.Event, w0 uint64, start map[string]uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cid := ev.ConversationID
	if c.closed || ev.Seq <= c.lastSeq[cid] {
		return
	}
	c.lastSeq[cid] = ev.Seq
	cur := cursor{W: max(w0, ev.Seq), U: c.u}
	for k, s := range start {
		if p := max(s, ev.Seq); p < cur.W {
			if cur.X == nil {
				cur.X = make(map[string]uint64)
			}
			cur.X[k] = p
		}
	}
	c.enqueueLocked(newLiveEvent(ev).frame(cur.encode()))
}

// finishResume switches the socket to live delivery: the events that arrived
// meanwhile are sent (those the backlog covered are dropped), then `resumed`.
func (c *conn) finishResume(top, utop uint64) {
	var leave []string
	c.mu.Lock()
	c.resuming = false
	c.floor = top
	c.w = max(c.w, top)
	c.u = max(c.u, utop)
	parked := c.pending
	c.pending = nil
	for _, le := range parked {
		if cid := c.deliverLocked(le); cid != "" {
			leave = append(leave, cid)
		}
	}
	for _, ev := range c.pendingUser {
		c.applyUserLocked(ev)
	}
	c.pendingUser = nil
	c.replyLocked(parley.ServerFrame{Type: parley.FrameResumed, Cursor: c.cursorLocked()})
	c.mu.Unlock()
	for _, cid := range leave {
		c.h.unfollow(c, cid)
	}
}

func (c *conn) replyLocked(f parley.ServerFrame) {
	b, err := json.Marshal(f)
	if err != nil {
		return
	}
	c.enqueueLocked(b)
}

// startCatchUpLocked parks the conversation's live events and fetches from
// the stream what came after seq `from`, whose successor's prev_seq is from.
func (c *conn) startCatchUpLocked(cid string, from uint64) {
	if c.catching[cid] {
		return
	}
	c.catching[cid] = true
	c.x[cid] = from
	c.wg.Add(1)
	go c.catchUp(cid, from)
}

func (c *conn) catchUp(cid string, from uint64) {
	defer c.wg.Done()
	if err := c.h.follow(c, cid); err != nil {
		return
	}
	if err := c.s.nc.FlushTimeout(flushWait); err != nil {
		c.close(closeInternal, "try again")
		return
	}
	prev := from
	err := c.s.scanConv(c.ctx, cid, from+1, func(ev *parley.Event) bool {
		ev.PrevSeq = prev
		prev = ev.Seq
		return c.deliverCaughtUp(ev)
	})
	if err != nil {
		if c.ctx.Err() == nil {
			c.s.log.Error("catch up", "conversation", cid, "err", err)
			c.close(closeInternal, "try again")
		}
		return
	}
	var leave []string
	c.mu.Lock()
	delete(c.catching, cid)
	delete(c.x, cid)
	if c.convs[cid] {
		c.trust[cid] = true // the stream had nothing more: do not loop on a hole it cannot fill
	}
	parked := c.pending
	c.pending = nil
	for _, le := range parked {
		if l := c.deliverLocked(le); l != "" {
			leave = append(leave, l)
		}
	}
	c.mu.Unlock()
	for _, l := range leave {
		c.h.unfollow(c, l)
	}
}

// deliverCaughtUp sends one event fetched by a catch-up. It reports whether
// to go on.
func (c *conn) deliverCaughtUp(ev *parley.Event) bool {
	c.mu.Lock()
	cid := ev.ConversationID
	if c.closed || !c.convs[cid] {
		c.mu.Unlock()
		return false
	}
	if ev.Seq <= c.lastSeq[cid] {
		c.mu.Unlock()
		return true
	}
	c.lastSeq[cid] = ev.Seq
	c.x[cid] = ev.Seq
	c.enqueueLocked(newLiveEvent(ev).frame(c.cursorLocked()))
	leave := c.afterLocked(ev)
	c.mu.Unlock()
	if leave != "" {
		c.h.unfollow(c, leave)
		return false
	}
	return true
}

// userCatchUp applies the user events after seq u missed while disconnected.
func (c *conn) userCatchUp(u uint64) {
	defer c.wg.Done()
	err := c.s.scanUser(c.ctx, c.uid, u+1, func(ev *parley.Event) {
		c.mu.Lock()
		c.applyUserLocked(ev)
		c.mu.Unlock()
	})
	if err != nil && c.ctx.Err() == nil {
		c.s.log.Error("user catch up", "user", c.uid, "err", err)
	}
}

// scanConv calls fn with each stored event of the conversation from seq on,
// in order, with Seq set, until fn returns false or the stream has no more.
func (s *Server) scanConv(ctx context.Context, cid string, from uint64, fn func(*parley.Event) bool) error {
	return s.scan(ctx, s.hub.conv, s.layout.Conv(cid), from, func(ev *parley.Event) bool {
		ev.ConversationID = cid
		return fn(ev)
	})
}

// scanUser calls fn with each stored event of the user from seq on, in order.
func (s *Server) scanUser(ctx context.Context, uid string, from uint64, fn func(*parley.Event)) error {
	return s.scan(ctx, s.hub.user, s.layout.User(uid), from, func(ev *parley.Event) bool {
		fn(ev)
		return true
	})
}

// scan reads a subject of a stream from seq on, by direct gets, skipping
// (and logging) what cannot be decoded.
func (s *Server) scan(ctx context.Context, st jetstream.Stream, subj streams.Subject, from uint64, fn func(*parley.Event) bool) error {
	for seq := max(from, 1); ; {
		raw, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(string(subj)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get %s after %d: %w", subj, seq, err)
		}
		seq = raw.Sequence + 1
		ev, err := streams.Decode(raw.Data)
		if err != nil {
			s.log.Error("undecodable stored event", "subject", subj, "seq", raw.Sequence, "err", err)
			continue
		}
		ev.Seq = raw.Sequence
		if !fn(ev) {
			return nil
		}
	}
}

// streamLastSeq is the sequence of the last event stored in CONV.
func (s *Server) streamLastSeq(ctx context.Context) (uint64, error) {
	info, err := s.hub.conv.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", err)
	}
	return info.State.LastSeq, nil
}

// userLastSeq is the sequence of the user's last event in USER, or 0.
func (s *Server) userLastSeq(ctx context.Context, uid string) (uint64, error) {
	raw, err := s.hub.user.GetLastMsgForSubject(ctx, string(s.layout.User(uid)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last user event: %w", err)
	}
	return raw.Sequence, nil
}
