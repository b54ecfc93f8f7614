package edge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/streams"
)

// liveWait bounds how long a publisher waits for its event to come back
// live before it reads the stored copy instead. The event is stored by
// then; under overload it may come back late, and waiting is what keeps the
// answer right (the ack carries prev_seq, which only the live copy has).
const liveWait = 60 * time.Second

// stallWait bounds how long a publish waits for room in the async window.
const stallWait = 5 * time.Second

// pendingSend is a message published and not yet acknowledged.
type pendingSend struct {
	s       *Server
	ev      *parley.Event
	msgID   string
	start   time.Time
	ack     jetstream.PubAckFuture
	live    chan liveAck
	release func()
}

// publishMessage authorizes and validates a send and publishes it without
// waiting. Sends published one after the other on an edge are stored in
// that order.
func (s *Server) publishMessage(ctx context.Context, uid, cid, clientID, body string, replyTo *string) (*pendingSend, error) {
	if _, err := s.authorize(ctx, uid, cid); err != nil {
		return nil, err
	}
	if err := parley.ValidateClientID(clientID); err != nil {
		return nil, err
	}
	if err := parley.ValidateBody(body); err != nil {
		return nil, err
	}
	if replyTo != nil {
		if _, err := parley.ParseMessageID(*replyTo); err != nil {
			return nil, parley.Errorf(parley.CodeInvalid, "reply_to is not a message id")
		}
	}
	at := now()
	ev := &parley.Event{
		Kind: parley.EventMessageNew, ConversationID: cid, ActorID: uid, At: at,
		Message: &parley.Message{ConversationID: cid, ClientID: clientID, SenderID: uid, Body: body, ReplyTo: replyTo, CreatedAt: at},
	}
	p := &pendingSend{s: s, ev: ev, msgID: streams.MsgID(uid, cid, clientID), start: time.Now()}
	msg, err := streams.NewMsg(s.layout.Conv(cid), ev, p.msgID)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	if p.release, err = s.hub.acquire(cid); err != nil {
		return nil, err
	}
	p.live = s.hub.await(p.msgID)
	// When JetStream falls behind, the publish waits for room (and so does
	// the socket's reader: back-pressure) instead of failing at once.
	if p.ack, err = s.js.PublishMsgAsync(msg, jetstream.WithStallWait(stallWait)); err != nil {
		p.abandon()
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return nil, parley.Errorf(parley.CodeRateLimited, "too many messages in flight; send again shortly")
		}
		return nil, fmt.Errorf("publish message: %w", err)
	}
	return p, nil
}

func (p *pendingSend) abandon() {
	p.s.hub.cancel(p.msgID, p.live)
	p.release()
}

// wait returns the message as stored, with seq and prev_seq. A send that
// repeats a client_id within the duplicate window returns the first one.
func (p *pendingSend) wait(ctx context.Context) (parley.Message, error) {
	s := p.s
	var ack *jetstream.PubAck
	select {
	case ack = <-p.ack.Ok():
	case err := <-p.ack.Err():
		p.abandon()
		return parley.Message{}, fmt.Errorf("publish message: %w", err)
	case <-ctx.Done():
		p.abandon()
		return parley.Message{}, ctx.Err()
	}
	s.met.publish.Observe(time.Since(p.start).Seconds())
	if ack.Duplicate {
		p.abandon()
		return s.storedMessage(ctx, p.ev.ConversationID, ack.Sequence)
	}
	t := time.NewTimer(liveWait)
	defer t.Stop()
	select {
	case la := <-p.live:
		p.release()
		m := *p.ev.Message
		m.ID, m.Seq, m.PrevSeq = parley.MessageID(la.seq), la.seq, la.prev
		m.Mentions, m.Reactions = []string{}, map[string]int{}
		return m, nil
	case <-t.C:
	case <-ctx.Done():
		p.abandon()
		return parley.Message{}, ctx.Err()
	}
	p.abandon()
	return s.storedMessage(ctx, p.ev.ConversationID, ack.Sequence)
}

// sendMessage publishes a new message and returns it as delivered, with seq
// and prev_seq. The same clientID again returns the stored message.
func (s *Server) sendMessage(ctx context.Context, uid, cid, clientID, body string, replyTo *string) (parley.Message, error) {
	p, err := s.publishMessage(ctx, uid, cid, clientID, body, replyTo)
	if err != nil {
		return parley.Message{}, err
	}
	return p.wait(ctx)
}

// storedMessage reads a message once the persist workers have stored
// everything up to seq.
func (s *Server) storedMessage(ctx context.Context, cid string, seq uint64) (parley.Message, error) {
	top, err := s.streamLastSeq(ctx)
	if err != nil {
		return parley.Message{}, err
	}
	if seq > top {
		return parley.Message{}, parley.Errorf(parley.CodeNotFound, "message not found")
	}
	if err := s.waitPersistedTo(ctx, seq); err != nil {
		return parley.Message{}, err
	}
	return s.store.Message(ctx, cid, seq)
}

// ownMessage finds a message of the conversation that uid may change:
// their own, or, with moderate set, any message when uid moderates a group.
func (s *Server) ownMessage(ctx context.Context, uid, cid, mid string, moderate bool) (parley.Message, error) {
	m, err := s.authorize(ctx, uid, cid)
	if err != nil {
		return parley.Message{}, err
	}
	seq, err := parley.ParseMessageID(mid)
	if err != nil {
		return parley.Message{}, err
	}
	msg, err := s.storedMessage(ctx, cid, seq)
	if err != nil {
		return parley.Message{}, err
	}
	if msg.SenderID != uid && !(moderate && m.Type == parley.Group && m.Roles[uid].CanModerate()) {
		return parley.Message{}, parley.Errorf(parley.CodeForbidden, "only the sender may do that")
	}
	return msg, nil
}

// editMessage publishes an edit by the sender and returns the message as persisted.
func (s *Server) editMessage(ctx context.Context, uid, cid, mid, body string) (parley.Message, error) {
	if err := parley.ValidateBody(body); err != nil {
		return parley.Message{}, err
	}
	msg, err := s.ownMessage(ctx, uid, cid, mid, false)
	if err != nil {
		return parley.Message{}, err
	}
	if msg.Deleted {
		return parley.Message{}, parley.ErrNotFound
	}
	seq, err := s.publish(ctx, &parley.Event{Kind: parley.EventMessageEdited, ConversationID: cid, ActorID: uid, MessageID: msg.ID, Body: body})
	if err != nil {
		return parley.Message{}, err
	}
	if err := s.waitPersistedTo(ctx, seq); err != nil {
		return parley.Message{}, err
	}
	return s.store.Message(ctx, cid, msg.Seq)
}

// deleteMessage publishes a delete by the sender or a group admin/owner.
func (s *Server) deleteMessage(ctx context.Context, uid, cid, mid string) error {
	msg, err := s.ownMessage(ctx, uid, cid, mid, true)
	if err != nil || msg.Deleted {
		return err
	}
	_, err = s.publish(ctx, &parley.Event{Kind: parley.EventMessageDeleted, ConversationID: cid, ActorID: uid, MessageID: msg.ID})
	return err
}

// markRead publishes a read marker.
func (s *Server) markRead(ctx context.Context, uid, cid string, seq uint64) error {
	if _, err := s.authorize(ctx, uid, cid); err != nil {
		return err
	}
	if seq == 0 {
		return parley.Errorf(parley.CodeInvalid, "seq must be positive")
	}
	_, err := s.publish(ctx, &parley.Event{Kind: parley.EventRead, ConversationID: cid, ActorID: uid, UserID: uid, ReadSeq: seq})
	return err
}

// publish stores a conversation event and returns its seq.
func (s *Server) publish(ctx context.Context, ev *parley.Event) (uint64, error) {
	if ev.At.IsZero() {
		ev.At = now()
	}
	msg, err := streams.NewMsg(s.layout.Conv(ev.ConversationID), ev, "")
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", ev.Kind, err)
	}
	start := time.Now()
	ack, err := s.js.PublishMsg(ctx, msg)
	if err != nil {
		return 0, fmt.Errorf("publish %s: %w", ev.Kind, err)
	}
	s.met.publish.Observe(time.Since(start).Seconds())
	return ack.Sequence, nil
}

// announce tells everyone about a control-plane change that the Store has
// committed: every edge drops its cached membership, the conversation's
// members get ev, and each user in notify gets a user event pointing at it,
// so that their sockets start (or stop) following the conversation.
func (s *Server) announce(ctx context.Context, ev *parley.Event, notify []string) error {
	cid := ev.ConversationID
	s.cache.invalidate(cid)
	if err := s.nc.Publish(string(s.layout.Control(cid)), nil); err != nil {
		return fmt.Errorf("announce %s: %w", cid, err)
	}
	ev.At = now()
	msgID := nuid.Next()
	msg, err := streams.NewMsg(s.layout.Conv(cid), ev, msgID)
	if err != nil {
		return err
	}
	release, err := s.hub.acquire(cid)
	if err != nil {
		return err
	}
	defer release()
	live := s.hub.await(msgID)
	defer s.hub.cancel(msgID, live)
	ack, err := s.js.PublishMsg(ctx, msg)
	if err != nil {
		return fmt.Errorf("publish %s: %w", ev.Kind, err)
	}
	var prev uint64
	select {
	case la := <-live:
		prev = la.prev
	case <-time.After(liveWait):
		// Unknown: joiners then follow the conversation from its start.
	case <-ctx.Done():
		return ctx.Err()
	}
	futures := make([]jetstream.PubAckFuture, 0, len(notify))
	for _, uid := range notify {
		uev := &parley.Event{Kind: ev.Kind, ConversationID: cid, ActorID: ev.ActorID, At: ev.At, UserID: uid, ConvSeq: ack.Sequence, ConvPrevSeq: prev}
		m, err := streams.NewMsg(s.layout.User(uid), uev, "")
		if err != nil {
			return err
		}
		f, err := s.js.PublishMsgAsync(m, jetstream.WithStallWait(stallWait))
		if err != nil {
			return fmt.Errorf("publish user event: %w", err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish user event: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// announceMembersAdded publishes member.added on the conversation and to
// each added user. Call it after the Store committed the change.
func (s *Server) announceMembersAdded(ctx context.Context, cid, actor string, added []parley.Member) error {
	if len(added) == 0 {
		return nil
	}
	notify := make([]string, len(added))
	for i, m := range added {
		notify[i] = m.User.ID
	}
	return s.announce(ctx, &parley.Event{Kind: parley.EventMemberAdded, ConversationID: cid, ActorID: actor, Members: added}, notify)
}

// announceMemberRemoved publishes member.removed likewise.
func (s *Server) announceMemberRemoved(ctx context.Context, cid, actor, uid string) error {
	return s.announce(ctx, &parley.Event{Kind: parley.EventMemberRemoved, ConversationID: cid, ActorID: actor, UserID: uid}, []string{uid})
}

// announceConversationUpdated publishes conversation.updated likewise.
func (s *Server) announceConversationUpdated(ctx context.Context, cid, actor, title string) error {
	return s.announce(ctx, &parley.Event{Kind: parley.EventConversationUpdated, ConversationID: cid, ActorID: actor, Title: title}, nil)
}

// waitPersisted waits until every conversation event stored before the call
// has been written to the Store by the persist workers (read-your-writes).
func (s *Server) waitPersisted(ctx context.Context) error {
	top, err := s.streamLastSeq(ctx)
	if err != nil {
		return err
	}
	return s.waitPersistedTo(ctx, top)
}

// errPersistBehind is returned when the persist workers do not catch up in time.
var errPersistBehind = errors.New("persist workers are behind")

// waitPersistedTo waits until the persist workers have acknowledged every
// event up to seq, bounded by Config.PersistWait and ctx. One poller per
// edge (persistFloor) reads the durable's ack floor, which only moves after
// a Postgres commit, however many requests wait.
func (s *Server) waitPersistedTo(ctx context.Context, seq uint64) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PersistWait)
	defer cancel()
	for {
		changed, ok := s.hub.floor.want(seq)
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("wait for seq %d: %w", seq, errPersistBehind)
			}
			return ctx.Err()
		}
	}
}

// persistFloor tracks the persist durable's ack floor for the edge: every
// event at or below it is in Postgres. It is polled only while someone
// waits for a higher one.
type persistFloor struct {
	cons jetstream.Consumer
	kick chan struct{} // wakes the poller; capacity 1

	mu      sync.Mutex
	floor   uint64        // guarded by mu
	wanted  uint64        // guarded by mu; the highest seq waited for
	changed chan struct{} // guarded by mu; closed when floor moves
}

func newPersistFloor(cons jetstream.Consumer) *persistFloor {
	return &persistFloor{cons: cons, kick: make(chan struct{}, 1), changed: make(chan struct{})}
}

// want reports whether seq is persisted, and otherwise returns a channel
// closed when the floor next moves.
func (f *persistFloor) want(seq uint64) (<-chan struct{}, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.floor >= seq {
		return nil, true
	}
	f.wanted = max(f.wanted, seq)
	select {
	case f.kick <- struct{}{}:
	default:
	}
	return f.changed, false
}

// run polls while someone waits, at most every pollEvery.
func (f *persistFloor) run(quit <-chan struct{}) {
	const pollEvery = 2 * time.Millisecond
	for {
		select {
		case <-quit:
			return
		case <-f.kick:
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			info, err := f.cons.Info(ctx)
			cancel()
			f.mu.Lock()
			if err == nil {
				floor := info.AckFloor.Stream
				if info.NumPending == 0 && info.NumAckPending == 0 {
					floor = max(floor, info.Delivered.Stream)
				}
				if floor > f.floor {
					f.floor = floor
					close(f.changed)
					f.changed = make(chan struct{})
				}
			}
			more := f.wanted > f.floor
			f.mu.Unlock()
			if !more {
				break
			}
			select {
			case <-quit:
				return
			case <-time.After(pollEvery):
			}
		}
	}
}

// Abort drops every WebSocket at once, without a going-away frame, as a
// crashed process would. Run still has to be stopped through its context.
func (s *Server) Abort() { s.hub.abort() }

// now is the time stamped on events: UTC, at the microsecond precision
// Postgres keeps, so that a message reads the same live and from history.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
