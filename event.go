package parley

import "time"

// EventKind names what happened. The names are the `event` field of the
// WebSocket `event` frame.
type EventKind string

// Conversation and user events.
const (
	EventMessageNew          EventKind = "message.new"
	EventMessageEdited       EventKind = "message.edited"
	EventMessageDeleted      EventKind = "message.deleted"
	EventReactionAdded       EventKind = "reaction.added"
	EventReactionRemoved     EventKind = "reaction.removed"
	EventRead                EventKind = "read"
	EventTyping              EventKind = "typing"
	EventMemberAdded         EventKind = "member.added"
	EventMemberRemoved       EventKind = "member.removed"
	EventConversationUpdated EventKind = "conversation.updated"
	EventMention             EventKind = "mention"
	EventPresence            EventKind = "presence"
	EventStoryNew            EventKind = "story.new"
	EventStoryExpired        EventKind = "story.expired"
)

// Event is one change to a conversation (or, on a user's own subject, to a
// user). Which fields are set depends on Kind:
//
//	message.new           Message (Seq and PrevSeq are zero until stored)
//	message.edited        MessageID, Body
//	message.deleted       MessageID
//	read                  UserID, ReadSeq
//	member.added          Members (on the user subject: ConvSeq, ConvPrevSeq too)
//	member.removed        UserID (on the user subject: ConvSeq, ConvPrevSeq too)
//	conversation.updated  Title
//
// Seq and PrevSeq are never part of the stored payload: they come from the
// stream (Nats-Sequence, Nats-Last-Sequence) and are filled in on delivery.
type Event struct {
	Kind           EventKind `json:"kind"`
	ConversationID string    `json:"conversation_id,omitempty"`
	ActorID        string    `json:"actor_id"`
	At             time.Time `json:"at"`

	Message   *Message `json:"message,omitempty"`
	MessageID string   `json:"message_id,omitempty"`
	Body      string   `json:"body,omitempty"`
	UserID    string   `json:"user_id,omitempty"`
	ReadSeq   uint64   `json:"read_seq,omitempty"`
	Members   []Member `json:"members,omitempty"`
	Title     string   `json:"title,omitempty"`
	ConvSeq   uint64   `json:"conv_seq,omitempty"`
	// ConvPrevSeq is the prev_seq of the conversation event at ConvSeq, so
	// that an edge that starts following the conversation from there can
	// chain it without asking the database.
	ConvPrevSeq uint64 `json:"conv_prev_seq,omitempty"`

	Seq     uint64 `json:"-"`
	PrevSeq uint64 `json:"-"`
}

// Data returns the `data` of the event frame that shows e to a client.
func (e *Event) Data() any {
	switch e.Kind {
	case EventMessageNew:
		m := *e.Message
		m.Seq, m.PrevSeq, m.ID = e.Seq, e.PrevSeq, MessageID(e.Seq)
		if m.Reactions == nil {
			m.Reactions = map[string]int{}
		}
		if m.Mentions == nil {
			m.Mentions = []string{}
		}
		return m
	case EventMessageEdited:
		return map[string]any{"message_id": e.MessageID, "body": e.Body, "edited_at": e.At, "edited_by": e.ActorID}
	case EventMessageDeleted:
		return map[string]any{"message_id": e.MessageID, "deleted_by": e.ActorID, "deleted_at": e.At}
	case EventRead:
		return map[string]any{"user_id": e.UserID, "seq": e.ReadSeq}
	case EventMemberAdded:
		return map[string]any{"members": e.Members, "added_by": e.ActorID}
	case EventMemberRemoved:
		return map[string]any{"user_id": e.UserID, "removed_by": e.ActorID}
	case EventConversationUpdated:
		return map[string]any{"title": e.Title, "updated_by": e.ActorID}
	}
	return map[string]any{}
}
