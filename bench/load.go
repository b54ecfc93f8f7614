package main

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/streams"
)

// A load is an open-loop message load on a set of conversations: message k
// is due at start + k/rate, whatever happened to the messages before it, and
// every latency counts from that scheduled time, so that a stall shows in
// the figures instead of slowing the sender down (no coordinated omission).
//
// Message k goes to conversation k mod len(convs), from its members in turn.
// Its body carries the conversation, the sender's place in it, the sender's
// counter in that conversation and k itself, so that every receiver checks
// that each sender's messages arrive once and in order.
type load struct {
	c       config
	e       *env
	users   []client.Session
	convs   []loadConv
	members int // largest conversation

	conns []*client.Conn // by user
	recv  []*receiver    // by user

	rate    int // messages per second
	total   int
	start   time.Time
	sched   []int64   // by k: due time, ns after start
	convOf  []int32   // by k
	counter [][]int64 // by conversation, by member: messages scheduled

	acked, failed, delivered, persisted atomic.Int64
	lastAck, lastDeliver, lastPersist   atomic.Int64   // ns after start
	ackedBy                             []atomic.Int64 // by conversation
	arrivals                            []atomic.Int32 // by k: deliveries so far

	ackLat, deliverLat, allLat, persistLat *latency

	ready     chan struct{} // closed once start and the schedule are set (or by close)
	readyOnce sync.Once

	pmu     sync.Mutex
	pending []seqK         // acked, not yet seen persisted
	errs    map[string]int // send failures by error
}

type loadConv struct {
	id      string
	members []int // user indexes; members[0] created it
}

type seqK struct {
	seq uint64
	k   int
}

// receiver checks what one user's socket receives.
type receiver struct {
	l          *load
	last       map[int64]int64 // (conversation, sender) -> last counter seen
	unique     int64
	duplicated int64
	reordered  int64
	done       chan struct{}
}

// setupLoad registers the users, creates the conversations (groups[i] lists
// user indexes; two members make a direct conversation) and connects every
// user's socket.
func setupLoad(ctx context.Context, c config, e *env, users int, groups [][]int) (*load, error) {
	l := &load{c: c, e: e, ready: make(chan struct{}), ackLat: newLatency(), deliverLat: newLatency(), allLat: newLatency(), persistLat: newLatency()}
	var err error
	if l.users, err = registerUsers(ctx, c, e.endpoints, users); err != nil {
		return nil, err
	}
	l.convs = make([]loadConv, len(groups))
	var made atomic.Int64
	stop := ticker(c, func() string { return fmt.Sprintf("creating conversations: %d of %d", made.Load(), len(groups)) })
	err = parallel(ctx, len(groups), 16, &made, func(ctx context.Context, i int) error {
		g := groups[i]
		api := newAPI(e.endpoints[i%len(e.endpoints)], l.users[g[0]])
		var conv parley.Conversation
		var err error
		if len(g) == 2 {
			conv, err = api.CreateDirect(ctx, l.users[g[1]].User.ID)
		} else {
			ids := make([]string, 0, len(g)-1)
			for _, u := range g[1:] {
				ids = append(ids, l.users[u].User.ID)
			}
			conv, err = api.CreateGroup(ctx, fmt.Sprintf("bench %d", i), ids, false)
		}
		if err != nil {
			return fmt.Errorf("create conversation %d: %w", i, err)
		}
		l.convs[i] = loadConv{id: conv.ID, members: g}
		return nil
	})
	stop()
	if err != nil {
		return nil, err
	}
	for _, cv := range l.convs {
		l.members = max(l.members, len(cv.members))
	}
	if err := l.connect(ctx); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// connect opens every user's socket, spread over the edges and source addresses.
func (l *load) connect(ctx context.Context) error {
	n := len(l.users)
	l.conns = make([]*client.Conn, n)
	l.recv = make([]*receiver, n)
	var done atomic.Int64
	stop := ticker(l.c, func() string { return fmt.Sprintf("connecting: %d of %d", done.Load(), n) })
	defer stop()
	return parallel(ctx, n, 64, &done, func(ctx context.Context, i int) error {
		api := newAPI(l.e.endpoints[i%len(l.e.endpoints)], l.users[i])
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		conn, err := api.Connect(cctx, client.ConnOptions{
			Endpoints: rotate(l.e.endpoints, i),
			Dialer:    dialer(sourceIP(i, n), false),
			QueueSize: 100000,
		})
		if err != nil {
			return fmt.Errorf("connect user %d: %w", i, err)
		}
		l.conns[i] = conn
		r := &receiver{l: l, last: map[int64]int64{}, done: make(chan struct{})}
		l.recv[i] = r
		go r.run(conn.Events())
		return nil
	})
}

func (l *load) close() {
	l.readyOnce.Do(func() { close(l.ready) })
	var wg sync.WaitGroup
	for _, c := range l.conns {
		if c != nil {
			wg.Go(func() { c.Close() })
		}
	}
	wg.Wait()
	for _, r := range l.recv {
		if r != nil {
			<-r.done
		}
	}
}

// bodyPrefix starts every benchmark message body.
const bodyPrefix = "b|"

// body returns message k's body: b|conv|member|counter|k| padded with x.
func (l *load) body(conv, member int, counter int64, k int) string {
	b := make([]byte, 0, l.c.BodyBytes)
	b = append(b, bodyPrefix...)
	b = strconv.AppendInt(b, int64(conv), 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(member), 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, counter, 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, '|')
	for len(b) < l.c.BodyBytes {
		b = append(b, 'x')
	}
	return string(b)
}

// parseBody reads conv, member, counter and k from a message's JSON data.
func parseBody(data []byte) (conv, member int, counter int64, k int, ok bool) {
	i := bytes.Index(data, []byte(`"body":"`+bodyPrefix))
	if i < 0 {
		return
	}
	rest := data[i+len(`"body":"`+bodyPrefix):]
	var f [4]int64
	for j := range f {
		end := bytes.IndexByte(rest, '|')
		if end < 0 {
			return
		}
		v, err := strconv.ParseInt(string(rest[:end]), 10, 64)
		if err != nil {
			return
		}
		f[j] = v
		rest = rest[end+1:]
	}
	return int(f[0]), int(f[1]), f[2], int(f[3]), true
}

func (r *receiver) run(events <-chan client.Event) {
	defer close(r.done)
	l := r.l
	<-l.ready
	for ev := range events {
		if ev.Name != parley.EventMessageNew {
			continue
		}
		now := time.Since(l.start).Nanoseconds()
		conv, member, counter, k, ok := parseBody(ev.Data)
		if !ok || k >= l.total {
			continue
		}
		key := int64(conv)*int64(l.members) + int64(member)
		last := r.last[key]
		switch {
		case counter == last:
			r.duplicated++
			continue
		case counter < last:
			r.reordered++
			continue
		}
		r.last[key] = counter
		r.unique++
		l.delivered.Add(1)
		storeMax(&l.lastDeliver, now)
		l.deliverLat.record(time.Duration(now - l.sched[k]))
		if int(l.arrivals[k].Add(1)) == len(l.convs[conv].members) {
			l.allLat.record(time.Duration(now - l.sched[k]))
		}
	}
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// run sends rate messages per second for d, then waits up to drain for
// every message to be acknowledged, delivered and persisted.
func (l *load) run(ctx context.Context, rate int, d, drain time.Duration) error {
	l.rate = rate
	l.total = int(float64(rate) * d.Seconds())
	l.sched = make([]int64, l.total)
	l.convOf = make([]int32, l.total)
	l.arrivals = make([]atomic.Int32, l.total)
	l.ackedBy = make([]atomic.Int64, len(l.convs))
	l.counter = make([][]int64, len(l.convs))
	for i, cv := range l.convs {
		l.counter[i] = make([]int64, len(cv.members))
	}
	interval := float64(time.Second) / float64(rate)
	for k := range l.sched {
		l.sched[k] = int64(float64(k) * interval)
		l.convOf[k] = int32(k % len(l.convs))
	}
	pctx, stopPersist := context.WithCancel(ctx)
	defer stopPersist()
	persistDone := make(chan struct{})
	if l.e.js != nil {
		go l.watchPersisted(pctx, persistDone)
	} else {
		close(persistDone)
	}
	stop := ticker(l.c, l.progress)
	defer stop()
	l.e.profileEdges(false)
	defer l.e.profileEdges(true)
	l.start = time.Now()
	l.readyOnce.Do(func() { close(l.ready) })
	if err := l.send(ctx); err != nil {
		return err
	}
	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if l.acked.Load()+l.failed.Load() == int64(l.total) && l.delivered.Load() >= l.expectedDeliveries() &&
			(l.e.js == nil || l.persisted.Load() >= l.acked.Load()) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopPersist()
	<-persistDone
	return ctx.Err()
}

// send runs the schedule: every millisecond, it sends every message due.
func (l *load) send(ctx context.Context) error {
	for k := 0; k < l.total; {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		now := time.Since(l.start).Nanoseconds()
		for ; k < l.total && l.sched[k] <= now; k++ {
			if err := l.sendOne(k); err != nil {
				return err
			}
		}
		if k < l.total {
			time.Sleep(min(time.Millisecond, time.Duration(l.sched[k]-now)))
		}
	}
	return nil
}

func (l *load) sendOne(k int) error {
	ci := int(l.convOf[k])
	cv := l.convs[ci]
	round := k / len(l.convs)
	member := round % len(cv.members)
	l.counter[ci][member]++
	body := l.body(ci, member, l.counter[ci][member], k)
	p, err := l.conns[cv.members[member]].SendAsync(cv.id, body)
	if err != nil {
		if errors.Is(err, client.ErrQueueFull) {
			l.failed.Add(1)
			return nil
		}
		return fmt.Errorf("send: %w", err)
	}
	go func() {
		<-p.Done()
		now := time.Since(l.start).Nanoseconds()
		msg, err := p.Result()
		if err != nil {
			l.failed.Add(1)
			l.pmu.Lock()
			if l.errs == nil {
				l.errs = map[string]int{}
			}
			l.errs[err.Error()]++
			l.pmu.Unlock()
			return
		}
		l.ackLat.record(time.Duration(now - l.sched[k]))
		l.ackedBy[ci].Add(1)
		storeMax(&l.lastAck, now)
		l.pmu.Lock()
		l.pending = append(l.pending, seqK{msg.Seq, k})
		l.pmu.Unlock()
		l.acked.Add(1)
	}()
	return nil
}

// expectedDeliveries is, for every acknowledged message, one delivery per
// member of its conversation.
func (l *load) expectedDeliveries() int64 {
	var n int64
	for i := range l.convs {
		n += l.ackedBy[i].Load() * int64(len(l.convs[i].members))
	}
	return n
}

// watchPersisted polls the persist durable's ack floor: every acknowledged
// message at or below it is in Postgres (the workers ack after commit).
func (l *load) watchPersisted(ctx context.Context, done chan struct{}) {
	defer close(done)
	var h seqHeap
	cons, err := l.e.js.Consumer(ctx, streams.Layout{}.ConvStream(), streams.DurablePersist)
	if err != nil {
		return
	}
	for {
		info, err := cons.Info(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			now := time.Since(l.start).Nanoseconds()
			l.pmu.Lock()
			for _, p := range l.pending {
				heap.Push(&h, p)
			}
			l.pending = l.pending[:0]
			l.pmu.Unlock()
			for h.Len() > 0 && h[0].seq <= info.AckFloor.Stream {
				p := heap.Pop(&h).(seqK)
				l.persistLat.record(time.Duration(now - l.sched[p.k]))
				l.persisted.Add(1)
				storeMax(&l.lastPersist, now)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

type seqHeap []seqK

func (h seqHeap) Len() int           { return len(h) }
func (h seqHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h seqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *seqHeap) Push(x any)        { *h = append(*h, x.(seqK)) }
func (h *seqHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (l *load) progress() string {
	el := time.Since(l.start).Seconds()
	return fmt.Sprintf("%4.0fs  conns=%d  sent=%d  acked=%.0f/s  delivered=%.0f/s  persisted=%.0f/s  p99 ack=%.1fms deliver=%.1fms persisted=%.1fms  failed=%d",
		el, len(l.conns), l.acked.Load()+l.failed.Load(), float64(l.acked.Load())/el, float64(l.delivered.Load())/el,
		float64(l.persisted.Load())/el, l.ackLat.ms(99), l.deliverLat.ms(99), l.persistLat.ms(99), l.failed.Load())
}

// result reports the load's figures.
func (l *load) result(r *result) {
	perSec := func(n int64, last *atomic.Int64) float64 {
		if n == 0 || last.Load() == 0 {
			return 0
		}
		return float64(n) / (time.Duration(last.Load()).Seconds())
	}
	var unique, dup, reord, sdkDup, gaps int64
	for i, rc := range l.recv {
		unique += rc.unique
		dup += rc.duplicated
		reord += rc.reordered
		st := l.conns[i].Stats()
		sdkDup += int64(st.Duplicates)
		gaps += int64(st.Gaps)
	}
	r.add("users (sockets)", "count", float64(len(l.users)))
	r.add("conversations", "count", float64(len(l.convs)))
	r.add("offered rate", "msg/s", float64(l.rate))
	r.add("messages sent", "count", float64(l.total))
	r.add("accepted", "msg/s", perSec(l.acked.Load(), &l.lastAck))
	r.add("delivered", "events/s", perSec(l.delivered.Load(), &l.lastDeliver))
	if l.e.js != nil {
		r.add("persisted", "msg/s", perSec(l.persisted.Load(), &l.lastPersist))
	}
	l.ackLat.addTo(r, "send→ack")
	l.deliverLat.addTo(r, "send→deliver")
	l.allLat.addTo(r, "send→deliver to all members")
	if l.e.js != nil {
		l.persistLat.addTo(r, "send→persisted")
	}
	l.pmu.Lock()
	for msg, n := range l.errs {
		progressf(l.c, "send failed %d times: %s", n, msg)
	}
	l.pmu.Unlock()
	r.zero("send failures", float64(l.failed.Load()))
	r.zero("not acknowledged when the drain ended", float64(int64(l.total)-l.acked.Load()-l.failed.Load()))
	r.zero("lost deliveries", float64(max(0, l.expectedDeliveries()-unique)))
	r.zero("duplicated deliveries", float64(dup+sdkDup))
	r.zero("reordered deliveries", float64(reord))
	r.zero("prev_seq gaps", float64(gaps))
	if l.e.js != nil {
		r.zero("acked, not persisted", float64(l.acked.Load()-l.persisted.Load()))
	}
}
