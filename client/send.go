package client

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/parley-im/parley"
)

// SendOption sets an optional field of a sent message.
type SendOption func(*parley.ClientFrame)

// WithClientID sets the message's client_id (default: NewClientID()). A
// send with a client_id already stored is answered with the stored message.
func WithClientID(id string) SendOption { return func(f *parley.ClientFrame) { f.ClientID = id } }

// WithReplyTo makes the message a reply to the message mid.
func WithReplyTo(mid string) SendOption { return func(f *parley.ClientFrame) { f.ReplyTo = &mid } }

// Send sends a message and waits for the server to store it. While the
// Conn is disconnected the frame waits in the queue and goes out after the
// next resume, with the same client_id, so it is stored once however often
// it is retried. If ctx ends first, Send returns ctx.Err() and withdraws the
// frame from the queue; if it was written already, it may still be stored.
func (c *Conn) Send(ctx context.Context, cid, body string, opts ...SendOption) (parley.Message, error) {
	p, err := c.SendAsync(cid, body, opts...)
	if err != nil {
		return parley.Message{}, err
	}
	return c.wait(ctx, p.o)
}

// SendAsync queues a message and returns at once; the Pending reports when
// the server stored it. Queued frames are written in the order they were
// queued.
func (c *Conn) SendAsync(cid, body string, opts ...SendOption) (*Pending, error) {
	f := parley.ClientFrame{Type: parley.FrameSend, ConversationID: cid, Body: body}
	for _, o := range opts {
		o(&f)
	}
	if f.ClientID == "" {
		f.ClientID = NewClientID()
	}
	o, err := c.enqueue(f)
	if err != nil {
		return nil, err
	}
	return &Pending{o: o}, nil
}

// Edit replaces the body of one of the user's messages.
func (c *Conn) Edit(ctx context.Context, cid, mid, body string) error {
	return c.call(ctx, parley.ClientFrame{Type: parley.FrameEdit, ConversationID: cid, MessageID: mid, Body: body})
}

// Delete deletes a message.
func (c *Conn) Delete(ctx context.Context, cid, mid string) error {
	return c.call(ctx, parley.ClientFrame{Type: parley.FrameDelete, ConversationID: cid, MessageID: mid})
}

// React adds the user's reaction emoji to a message.
func (c *Conn) React(ctx context.Context, cid, mid, emoji string) error {
	return c.call(ctx, parley.ClientFrame{Type: parley.FrameReact, ConversationID: cid, MessageID: mid, Emoji: emoji})
}

// Unreact removes the user's reaction emoji from a message.
func (c *Conn) Unreact(ctx context.Context, cid, mid, emoji string) error {
	return c.call(ctx, parley.ClientFrame{Type: parley.FrameUnreact, ConversationID: cid, MessageID: mid, Emoji: emoji})
}

// Read marks the conversation read up to seq.
func (c *Conn) Read(ctx context.Context, cid string, seq uint64) error {
	return c.call(ctx, parley.ClientFrame{Type: parley.FrameRead, ConversationID: cid, Seq: seq})
}

// Typing tells the conversation's members that the user is typing. It is
// never queued: it fails with ErrNotConnected unless a socket is resumed,
// and the server does not answer it (an error arrives through OnError).
func (c *Conn) Typing(ctx context.Context, cid string) error {
	b, err := json.Marshal(parley.ClientFrame{Type: parley.FrameTyping, ConversationID: cid})
	if err != nil {
		return err
	}
	c.mu.Lock()
	s := c.sess
	if s == nil || !s.resumed {
		s = nil
	}
	c.mu.Unlock()
	if s == nil {
		return ErrNotConnected
	}
	return writeCtrl(ctx, s, b)
}

// Ping sends a ping frame and returns the time until its pong. It is never
// queued: it fails with ErrNotConnected unless a socket is resumed, or if
// the socket ends before the pong.
func (c *Conn) Ping(ctx context.Context) (time.Duration, error) {
	ref := c.newRef()
	b, err := json.Marshal(parley.ClientFrame{Type: parley.FramePing, Ref: ref})
	if err != nil {
		return 0, err
	}
	p := newOp(ref, b, "")
	c.mu.Lock()
	s := c.sess
	if s != nil && s.resumed {
		s.pings = append(s.pings, p)
	}
	c.mu.Unlock()
	if s == nil || !s.resumed {
		return 0, ErrNotConnected
	}
	start := time.Now()
	if err := writeCtrl(ctx, s, b); err != nil {
		c.dropPing(s, p, err)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		c.dropPing(s, p, ctx.Err())
		<-p.done
	}
	return time.Since(start), p.err
}

// dropPing finishes p with err unless it was answered or failed already.
func (c *Conn) dropPing(s *session, p *op, err error) {
	c.mu.Lock()
	found := false
	for i, o := range s.pings {
		if o == p {
			s.pings = append(s.pings[:i:i], s.pings[i+1:]...)
			found = true
			break
		}
	}
	c.mu.Unlock()
	if found {
		p.finish(nil, err)
	}
}

// writeCtrl hands a frame to s's writer, ahead of the queue.
func writeCtrl(ctx context.Context, s *session, b []byte) error {
	select {
	case s.ctrl <- b:
		return nil
	case <-s.done:
		return ErrNotConnected
	case <-ctx.Done():
		return ctx.Err()
	}
}

// call queues a frame that the server answers with an ack carrying only
// its ref, and waits for the answer.
func (c *Conn) call(ctx context.Context, f parley.ClientFrame) error {
	o, err := c.enqueue(f)
	if err != nil {
		return err
	}
	_, err = c.wait(ctx, o)
	return err
}

// enqueue gives f a ref, encodes it once (every retry is the same bytes)
// and queues it.
func (c *Conn) enqueue(f parley.ClientFrame) (*op, error) {
	f.Ref = c.newRef()
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("client: encode %s frame: %w", f.Type, err)
	}
	if len(b) > parley.MaxFrameBytes {
		// The server would close the socket (1009), and the frame would
		// go out again after every reconnect.
		return nil, parley.Errorf(parley.CodeTooLarge, "%s frame is larger than %d bytes", f.Type, parley.MaxFrameBytes)
	}
	o := newOp(f.Ref, b, f.ClientID)
	c.mu.Lock()
	if c.state == StateClosed {
		err = c.err
	} else {
		err = c.out.add(o)
	}
	s := c.sess
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if s != nil {
		s.kickWriter()
	}
	return o, nil
}

// wait waits for o's answer. If ctx ends first, o is withdrawn from the
// queue, unless its answer came meanwhile, which is then returned.
func (c *Conn) wait(ctx context.Context, o *op) (parley.Message, error) {
	select {
	case <-o.done:
	case <-ctx.Done():
		c.mu.Lock()
		removed := c.out.remove(o.ref)
		c.mu.Unlock()
		if removed != nil {
			o.finish(nil, ctx.Err())
		}
		<-o.done
	}
	return o.result()
}
