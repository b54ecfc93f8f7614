package edge

// Temporary stand-ins for the hub, cache and publish path; replaced by
// hub.go, conn.go, cache.go and ops.go.

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/parley-im/parley"
)

type hub struct{}

func newHub(s *Server) *hub                    { return &hub{} }
func (h *hub) start(ctx context.Context) error { return nil }
func (h *hub) stop()                           {}

func (s *Server) serveWS(c echo.Context) error { panic("not yet") }

type membershipCache struct{}

func newMembershipCache(st Store) *membershipCache { return &membershipCache{} }

// authorize returns the conversation's membership if uid is a member, and
// not_found otherwise (exactly as if the conversation did not exist).
func (s *Server) authorize(ctx context.Context, uid, cid string) (parley.Membership, error) {
	panic("not yet")
}

// sendMessage publishes a new message and returns it as delivered, with seq
// and prev_seq. The same clientID again returns the stored message.
func (s *Server) sendMessage(ctx context.Context, uid, cid, clientID, body string, replyTo *string) (parley.Message, error) {
	panic("not yet")
}

// editMessage publishes an edit by the sender and returns the message as persisted.
func (s *Server) editMessage(ctx context.Context, uid, cid, mid, body string) (parley.Message, error) {
	panic("not yet")
}

// deleteMessage publishes a delete by the sender or a group admin/owner.
func (s *Server) deleteMessage(ctx context.Context, uid, cid, mid string) error { panic("not yet") }

// markRead publishes a read marker.
func (s *Server) markRead(ctx context.Context, uid, cid string, seq uint64) error { panic("not yet") }

// announceMembersAdded publishes member.added on the conversation and to
// each added user, and invalidates every edge's cache of the conversation.
// Call it after the Store committed the change.
func (s *Server) announceMembersAdded(ctx context.Context, cid, actor string, added []parley.Member) error {
	panic("not yet")
}

// announceMemberRemoved publishes member.removed likewise.
func (s *Server) announceMemberRemoved(ctx context.Context, cid, actor, uid string) error {
	panic("not yet")
}

// announceConversationUpdated publishes conversation.updated likewise.
func (s *Server) announceConversationUpdated(ctx context.Context, cid, actor, title string) error {
	panic("not yet")
}

// waitPersisted waits until every conversation event stored before the call
// has been written to the Store by the persist workers (read-your-writes),
// bounded by Config.PersistWait.
func (s *Server) waitPersisted(ctx context.Context) error { panic("not yet") }
