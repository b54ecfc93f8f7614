package edge

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley-im/parley"
)

// Conversation management is the control plane: each change is written to
// the Store in the request, then announced on the bus so that every edge's
// membership cache and every member's sockets follow.
//
// Who may do what in a group: any member may leave; owners and admins may
// rename it, add members and remove members, except that an admin may not
// remove the owner. A direct conversation has no title and fixed members.

func (s *Server) createConversation(c echo.Context) error {
	var req struct {
		Type    parley.ConversationType `json:"type"`
		Title   string                  `json:"title"`
		Members []string                `json:"members"`
		E2E     bool                    `json:"e2e"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	uid := userID(c)
	others, err := otherMembers(uid, req.Members)
	if err != nil {
		return err
	}
	conv := parley.Conversation{Type: req.Type, E2E: req.E2E, CreatedAt: time.Now().UTC()}
	var members []parley.NewMember
	var directKey string
	switch req.Type {
	case parley.Direct:
		if len(others) != 1 {
			return parley.Errorf(parley.CodeInvalid, "a direct conversation needs exactly one other member, not yourself")
		}
		// Neither member of a direct conversation has more say.
		members = []parley.NewMember{{UserID: uid, Role: parley.RoleMember}, {UserID: others[0], Role: parley.RoleMember}}
		directKey = directConversationKey(uid, others[0])
	case parley.Group:
		members = []parley.NewMember{{UserID: uid, Role: parley.RoleOwner}}
		if err := parley.ValidateTitle(req.Title); err != nil {
			return err
		}
		if len(others)+1 > parley.MaxGroupMembers {
			return parley.Errorf(parley.CodeInvalid, "a group has at most %d members", parley.MaxGroupMembers)
		}
		conv.Title = req.Title
		for _, o := range others {
			members = append(members, parley.NewMember{UserID: o, Role: parley.RoleMember})
		}
	default:
		return parley.Errorf(parley.CodeInvalid, `type must be "direct" or "group"`)
	}
	if conv.ID, err = newConversationID(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	conv, existed, err := s.store.CreateConversation(ctx, conv, members, directKey)
	if err != nil {
		return err
	}
	normalizeConversation(&conv)
	if existed {
		return c.JSON(http.StatusOK, map[string]any{"conversation": conv})
	}
	// The conversation is committed: a failed announcement is logged, not
	// answered as a failure that would invite the client to create a
	// second group. No edge can hold a stale cache entry of a new id.
	if err := s.announceMembersAdded(ctx, conv.ID, uid, conv.Members); err != nil {
		s.log.Error("announce new conversation", "conversation", conv.ID, "err", err)
	}
	return c.JSON(http.StatusCreated, map[string]any{"conversation": conv})
}

// otherMembers returns ids without duplicates and without self.
func otherMembers(self string, ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id == "" {
			return nil, parley.Errorf(parley.CodeInvalid, "member ids must not be empty")
		}
		if id != self && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// directConversationKey names the one direct conversation of a pair,
// whichever of them creates it.
func directConversationKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + ":" + b
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newConversationID returns 128 random bits as 26 lowercase base32
// characters: safe in NATS subjects, URLs and KV keys.
func newConversationID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("conversation id: %w", err)
	}
	return idEncoding.EncodeToString(b[:]), nil
}

func (s *Server) listConversations(c echo.Context) error {
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	convs, next, err := s.store.Conversations(c.Request().Context(), userID(c), limit, c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	if convs == nil {
		convs = []parley.Conversation{}
	}
	for i := range convs {
		normalizeConversation(&convs[i])
	}
	out := map[string]any{"conversations": convs}
	if next != "" {
		out["next_cursor"] = next
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getConversation(c echo.Context) error {
	conv, err := s.store.Conversation(c.Request().Context(), c.Param("cid"), userID(c))
	if err != nil {
		return err
	}
	normalizeConversation(&conv)
	return c.JSON(http.StatusOK, map[string]any{"conversation": conv})
}

// updateConversation renames a group (owner or admin).
func (s *Server) updateConversation(c echo.Context) error {
	var req struct {
		Title string `json:"title"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ctx, uid, cid := c.Request().Context(), userID(c), c.Param("cid")
	if _, err := s.moderateGroup(ctx, uid, cid, "only a group has a title", "rename the group"); err != nil {
		return err
	}
	if err := parley.ValidateTitle(req.Title); err != nil {
		return err
	}
	if err := s.store.UpdateTitle(ctx, cid, req.Title); err != nil {
		return err
	}
	if err := s.announceConversationUpdated(ctx, cid, uid, req.Title); err != nil {
		return err
	}
	conv, err := s.store.Conversation(ctx, cid, uid)
	if err != nil {
		return err
	}
	normalizeConversation(&conv)
	return c.JSON(http.StatusOK, map[string]any{"conversation": conv})
}

// moderateGroup authorizes a change only an owner or admin of a group may
// make: not_found for a non-member, invalid (with notGroup) for a direct
// conversation, forbidden for a plain member.
func (s *Server) moderateGroup(ctx context.Context, uid, cid, notGroup, what string) (parley.Membership, error) {
	ms, err := s.authorize(ctx, uid, cid)
	if err != nil {
		return parley.Membership{}, err
	}
	if ms.Type != parley.Group {
		return parley.Membership{}, parley.Errorf(parley.CodeInvalid, "%s", notGroup)
	}
	if !ms.Roles[uid].CanModerate() {
		return parley.Membership{}, parley.Errorf(parley.CodeForbidden, "only the owner or an admin may %s", what)
	}
	return ms, nil
}

// addMembers adds users to a group as members (owner or admin). Users
// already in it are left as they are.
func (s *Server) addMembers(c echo.Context) error {
	var req struct {
		UserIDs []string `json:"user_ids"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ctx, uid, cid := c.Request().Context(), userID(c), c.Param("cid")
	ms, err := s.moderateGroup(ctx, uid, cid, "members of a direct conversation cannot change", "add members")
	if err != nil {
		return err
	}
	if len(req.UserIDs) == 0 {
		return parley.Errorf(parley.CodeInvalid, "user_ids is required")
	}
	ids, err := otherMembers(uid, req.UserIDs)
	if err != nil {
		return err
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { _, in := ms.Roles[id]; return in })
	if len(ms.Roles)+len(ids) > parley.MaxGroupMembers {
		return parley.Errorf(parley.CodeInvalid, "a group has at most %d members", parley.MaxGroupMembers)
	}
	if len(ids) == 0 {
		return c.NoContent(http.StatusNoContent)
	}
	nm := make([]parley.NewMember, len(ids))
	for i, id := range ids {
		nm[i] = parley.NewMember{UserID: id, Role: parley.RoleMember}
	}
	added, err := s.store.AddMembers(ctx, cid, nm)
	if err != nil {
		return err
	}
	if len(added) > 0 {
		if err := s.announceMembersAdded(ctx, cid, uid, added); err != nil {
			return err
		}
	}
	return c.NoContent(http.StatusNoContent)
}

// removeMember removes a member from a group: yourself (leave), or, as
// owner or admin, someone else; an admin cannot remove the owner.
func (s *Server) removeMember(c echo.Context) error {
	ctx, uid, cid, target := c.Request().Context(), userID(c), c.Param("cid"), c.Param("uid")
	ms, err := s.authorize(ctx, uid, cid)
	if err != nil {
		return err
	}
	if ms.Type != parley.Group {
		return parley.Errorf(parley.CodeInvalid, "members of a direct conversation cannot change")
	}
	if target != uid {
		role, in := ms.Roles[target]
		switch {
		case !ms.Roles[uid].CanModerate():
			return parley.Errorf(parley.CodeForbidden, "only the owner or an admin may remove members")
		case !in:
			return parley.Errorf(parley.CodeNotFound, "not a member")
		case role == parley.RoleOwner && ms.Roles[uid] != parley.RoleOwner:
			return parley.Errorf(parley.CodeForbidden, "an admin cannot remove the owner")
		}
	}
	removed, err := s.store.RemoveMember(ctx, cid, target)
	if err != nil {
		return err
	}
	if removed {
		if err := s.announceMemberRemoved(ctx, cid, uid, target); err != nil {
			return err
		}
	}
	return c.NoContent(http.StatusNoContent)
}

// listMembers lists members whose username starts with ?q= (mention
// autocomplete); all of them, up to limit, without q.
func (s *Server) listMembers(c echo.Context) error {
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	ctx, cid := c.Request().Context(), c.Param("cid")
	if _, err := s.authorize(ctx, userID(c), cid); err != nil {
		return err
	}
	q := strings.ToLower(strings.TrimSpace(c.QueryParam("q")))
	members, err := s.store.SearchMembers(ctx, cid, q, limit)
	if err != nil {
		return err
	}
	if members == nil {
		members = []parley.Member{}
	}
	return c.JSON(http.StatusOK, map[string]any{"members": members})
}

// normalizeConversation makes the JSON of conv match the API: lists are
// never null.
func normalizeConversation(conv *parley.Conversation) {
	if conv.Members == nil {
		conv.Members = []parley.Member{}
	}
	if conv.LastMessage != nil {
		normalizeMessage(conv.LastMessage)
	}
}
