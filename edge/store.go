package edge

import (
	"context"
	"time"

	"github.com/parley-im/parley"
)

// Store is what the edge reads from and writes to the database of record.
// The control plane (accounts, conversations, membership) is written here
// synchronously; the data plane (messages, edits, reads) is never written by
// the edge: it is published to JetStream and persisted by the persist
// workers, and only read here.
//
// Errors are domain errors (parley.Error) where the caller can act on them:
// not_found, conflict, invalid. Anything else is internal.
type Store interface {
	// Accounts.
	CreateUser(ctx context.Context, username, displayName string, passwordHash []byte) (parley.User, error) // conflict if the username is taken
	UserCredentials(ctx context.Context, username string) (parley.User, []byte, error)                      // not_found
	User(ctx context.Context, id string) (parley.User, error)                                               // not_found
	SearchUsers(ctx context.Context, prefix string, limit int) ([]parley.User, error)

	// Refresh tokens are stored as hashes. Rotating a token that was
	// already rotated or revoked revokes its whole family and answers
	// unauthorized.
	CreateRefreshToken(ctx context.Context, userID, familyID string, hash []byte, expires time.Time) error
	RotateRefreshToken(ctx context.Context, oldHash, newHash []byte, expires time.Time) (userID string, err error)
	RevokeRefreshToken(ctx context.Context, hash []byte) error

	// Conversations. directKey is set only for direct conversations; a
	// second create with the same key returns the existing one and
	// existed=true. Unknown member ids are not_found.
	CreateConversation(ctx context.Context, c parley.Conversation, members []parley.NewMember, directKey string) (conv parley.Conversation, existed bool, err error)
	// Conversation answers not_found unless viewer is a member.
	Conversation(ctx context.Context, cid, viewer string) (parley.Conversation, error)
	// Conversations lists the viewer's conversations, latest activity first.
	Conversations(ctx context.Context, viewer string, limit int, cursor string) (convs []parley.Conversation, next string, err error)
	UpdateTitle(ctx context.Context, cid, title string) error
	// AddMembers adds the users not yet members and returns them.
	AddMembers(ctx context.Context, cid string, members []parley.NewMember) ([]parley.Member, error)
	RemoveMember(ctx context.Context, cid, uid string) (removed bool, err error)
	Membership(ctx context.Context, cid string) (parley.Membership, error) // not_found
	ConversationIDs(ctx context.Context, uid string) ([]string, error)
	SearchMembers(ctx context.Context, cid, prefix string, limit int) ([]parley.Member, error)

	// Messages, as persisted: one page (see parley.Page), ascending seq.
	Messages(ctx context.Context, cid string, page parley.Page) ([]parley.Message, error)
	Message(ctx context.Context, cid string, seq uint64) (parley.Message, error) // not_found
	MessageVersions(ctx context.Context, cid string, seq uint64) ([]parley.MessageVersion, error)

	// EventsSince returns stored conversation events, ascending seq, with
	// Seq and PrevSeq set: for each conversation in since, those with seq
	// greater than since[cid] and at most upto; at most limit of them.
	EventsSince(ctx context.Context, since map[string]uint64, upto uint64, limit int) ([]parley.Event, error)
}
