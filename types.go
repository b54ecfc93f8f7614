package parley

import (
	"strconv"
	"time"
)

// User is a person with an account. Usernames are unique, 3–32 of a-z0-9_.
type User struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
}

// ConversationType is "direct" (exactly two members, one per pair) or "group".
type ConversationType string

// Conversation types.
const (
	Direct ConversationType = "direct"
	Group  ConversationType = "group"
)

// Role is a member's role in a conversation.
type Role string

// Roles, from most to least privileged.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// CanModerate reports whether the role may delete others' messages and
// manage members of a group.
func (r Role) CanModerate() bool { return r == RoleOwner || r == RoleAdmin }

// Member is a user's membership in a conversation.
type Member struct {
	User User `json:"user"`
	Role Role `json:"role"`
}

// Conversation is a direct or group conversation as a member sees it.
// LastMessage and UnreadCount are relative to the member asking.
type Conversation struct {
	ID          string           `json:"id"`
	Type        ConversationType `json:"type"`
	Title       string           `json:"title"`
	E2E         bool             `json:"e2e"`
	Members     []Member         `json:"members"`
	CreatedAt   time.Time        `json:"created_at"`
	LastMessage *Message         `json:"last_message"`
	UnreadCount int              `json:"unread_count"`
}

// Message is one message in a conversation. Seq is the stream sequence of the
// event that created it; PrevSeq the sequence of the conversation's event
// before that one (0 for the first). ID is opaque to clients; it is the
// decimal Seq, unique within the conversation.
type Message struct {
	ID             string         `json:"id"`
	ConversationID string         `json:"conversation_id"`
	Seq            uint64         `json:"seq"`
	PrevSeq        uint64         `json:"prev_seq"`
	ClientID       string         `json:"client_id"`
	SenderID       string         `json:"sender_id"`
	Body           string         `json:"body"`
	ReplyTo        *string        `json:"reply_to"`
	Mentions       []string       `json:"mentions"`
	Reactions      map[string]int `json:"reactions"`
	CreatedAt      time.Time      `json:"created_at"`
	EditedAt       *time.Time     `json:"edited_at"`
	Deleted        bool           `json:"deleted"`
}

// MessageID returns the ID of the message created by the event at seq.
func MessageID(seq uint64) string { return strconv.FormatUint(seq, 10) }

// ParseMessageID returns the seq of the event that created the message id, or
// a not_found error for an id that cannot name a message.
func ParseMessageID(id string) (uint64, error) {
	seq, err := strconv.ParseUint(id, 10, 64)
	if err != nil || seq == 0 {
		return 0, ErrNotFound
	}
	return seq, nil
}

// MessageVersion is one version of a message body: the original, then each edit.
type MessageVersion struct {
	Seq      uint64    `json:"seq"`
	Body     string    `json:"body"`
	EditedAt time.Time `json:"edited_at"`
}

// Membership is a snapshot of who belongs to a conversation, as edges cache
// it to authorize every frame without a database round trip.
type Membership struct {
	ConversationID string
	Type           ConversationType
	E2E            bool
	Roles          map[string]Role // user id → role
}

// NewMember names a user to add to a conversation and the role to give them.
type NewMember struct {
	UserID string
	Role   Role
}

// Page selects a page of a conversation's messages, ascending seq within
// the page. Forward pages read the first Limit messages after After (0: from
// the start), stopping before Before when it is set; otherwise the page is
// the last Limit messages before Before (0: up to the newest).
type Page struct {
	After, Before uint64
	Forward       bool
	Limit         int
}
