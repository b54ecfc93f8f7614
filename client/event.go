package client

import (
	"encoding/json"
	"fmt"

	"github.com/parley-im/parley"
)

// Event is one `event` frame as the server sent it.
type Event struct {
	Name           parley.EventKind
	ConversationID string // empty for events of the user's own chain (story.new, ...)
	Seq            uint64 // zero for ephemeral events (typing, presence)
	PrevSeq        uint64
	Cursor         string
	Data           json.RawMessage
}

// Message decodes the data of a message.new event.
func (e Event) Message() (parley.Message, error) {
	var m parley.Message
	if e.Name != parley.EventMessageNew {
		return m, fmt.Errorf("client: %s event carries no message", e.Name)
	}
	err := e.Decode(&m)
	return m, err
}

// Decode unmarshals the event's data into v.
func (e Event) Decode(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("client: decode %s data: %w", e.Name, err)
	}
	return nil
}

// Gap is a break in a conversation's prev_seq chain that the client saw: an
// event whose PrevSeq is not the last seq the client had for that
// conversation (Last). The client reports gaps; it does not repair them.
type Gap struct {
	ConversationID string // "" for the user's own chain
	Last           uint64 // the last seq seen before the event
	Seq, PrevSeq   uint64 // the event's
}

// chains keeps, per conversation, the last seq delivered, to drop events
// already delivered (a defensive de-dup on top of the server's promise) and
// to notice gaps in the prev_seq chain. Events of the user's own chain have
// no conversation id and share the key "". Events without a seq (typing,
// presence) are never stored and always pass.
type chains struct {
	last map[string]uint64
	dups uint64 // events dropped as already seen
	gaps uint64 // gaps noticed
}

func newChains() *chains { return &chains{last: map[string]uint64{}} }

// observe accounts for an event: fresh is false for an event to drop; gap is
// set when the event does not continue the chain of a conversation seen
// before. The first event seen of a conversation starts its chain, whatever
// its prev_seq: before it the client was not a member, or not listening.
func (c *chains) observe(cid string, seq, prev uint64) (fresh bool, gap *Gap) {
	if seq == 0 {
		return true, nil
	}
	last, seen := c.last[cid]
	if seen && seq <= last {
		c.dups++
		return false, nil
	}
	c.last[cid] = seq
	if seen && prev != last {
		c.gaps++
		gap = &Gap{ConversationID: cid, Last: last, Seq: seq, PrevSeq: prev}
	}
	return true, gap
}

// forget ends the chain of a conversation the user left.
func (c *chains) forget(cid string) { delete(c.last, cid) }
