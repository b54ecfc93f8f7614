package client

import (
	"context"
	"errors"

	"github.com/parley-im/parley"
)

// ErrQueueFull is returned when the outgoing queue already holds
// ConnOptions.QueueSize frames that await their answers.
var ErrQueueFull = errors.New("client: outgoing queue full")

// op is a frame that awaits its answer (ack or error frame, matched by ref).
// frame and clientID never change; msg and err are written once, before
// done is closed, by whoever removed the op from the outbox.
type op struct {
	ref      string
	frame    []byte // the encoded frame, ref included: every retry is byte-identical
	clientID string // of a send
	done     chan struct{}
	msg      *parley.Message
	err      error
}

func newOp(ref string, frame []byte, clientID string) *op {
	return &op{ref: ref, frame: frame, clientID: clientID, done: make(chan struct{})}
}

func (o *op) finish(msg *parley.Message, err error) {
	o.msg, o.err = msg, err
	close(o.done)
}

func (o *op) result() (parley.Message, error) {
	if o.msg == nil {
		return parley.Message{}, o.err
	}
	return *o.msg, o.err
}

// outbox is the ordered queue of frames that await their answers, written
// and unwritten alike. ops[:sent] were written on the current socket;
// ops[sent:] were not. Frames are always written in queue order, so after a
// reconnect (restart) the ones written on the old socket but not answered go
// out again first, ahead of newer ones. Guarded by Conn.mu.
type outbox struct {
	limit int
	ops   []*op
	sent  int
}

func (b *outbox) add(o *op) error {
	if len(b.ops) >= b.limit {
		return ErrQueueFull
	}
	b.ops = append(b.ops, o)
	return nil
}

// take returns the next frames to write, leaving at most window written
// frames unanswered, and counts them as written.
func (b *outbox) take(window int) []*op {
	end := min(len(b.ops), window)
	if end <= b.sent {
		return nil
	}
	ops := b.ops[b.sent:end:end]
	b.sent = end
	return ops
}

// remove takes the op with ref out of the queue; nil if there is none (it
// was answered or cancelled already). Answers mostly come in order, so the
// search starts at the front.
func (b *outbox) remove(ref string) *op {
	for i, o := range b.ops {
		if o.ref == ref {
			b.ops = append(b.ops[:i:i], b.ops[i+1:]...)
			if i < b.sent {
				b.sent--
			}
			return o
		}
	}
	return nil
}

// restart marks every queued frame unwritten, for a new socket.
func (b *outbox) restart() { b.sent = 0 }

// largestWritten returns the largest frame written on the current socket.
func (b *outbox) largestWritten() *op {
	var big *op
	for _, o := range b.ops[:b.sent] {
		if big == nil || len(o.frame) > len(big.frame) {
			big = o
		}
	}
	return big
}

// drain empties the queue and returns what it held.
func (b *outbox) drain() []*op {
	ops := b.ops
	b.ops, b.sent = nil, 0
	return ops
}

// Pending is a frame queued by SendAsync that awaits its answer.
type Pending struct {
	o *op
}

// ClientID returns the client_id of the message.
func (p *Pending) ClientID() string { return p.o.clientID }

// Done is closed once the answer arrived, or the Conn closed.
func (p *Pending) Done() <-chan struct{} { return p.o.done }

// Result returns the stored message, or why it was not stored. Call it after
// Done is closed.
func (p *Pending) Result() (parley.Message, error) {
	select {
	case <-p.o.done:
		return p.o.result()
	default:
		return parley.Message{}, errors.New("client: send not answered yet")
	}
}

// Wait waits for the answer. If ctx ends first it returns ctx.Err() and the
// frame stays queued.
func (p *Pending) Wait(ctx context.Context) (parley.Message, error) {
	select {
	case <-p.o.done:
		return p.o.result()
	case <-ctx.Done():
		return parley.Message{}, ctx.Err()
	}
}
