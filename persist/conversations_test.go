package persist_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/parley-im/parley"
)

func member(u parley.User, r parley.Role) parley.Member { return parley.Member{User: u, Role: r} }

func TestDirectConversation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	ann, bob := mustUser(t, s, "ann"), mustUser(t, s, "bob")
	ms := []parley.NewMember{{UserID: ann.ID, Role: parley.RoleMember}, {UserID: bob.ID, Role: parley.RoleMember}}
	c, existed, err := s.CreateConversation(ctx, parley.Conversation{ID: "d1", Type: parley.Direct}, ms, "ann|bob")
	if err != nil || existed {
		t.Fatalf("create: %v, existed=%v", err, existed)
	}
	want := parley.Conversation{ID: "d1", Type: parley.Direct, CreatedAt: c.CreatedAt,
		Members: []parley.Member{member(ann, parley.RoleMember), member(bob, parley.RoleMember)}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}
	if c.CreatedAt.IsZero() || c.CreatedAt.Location().String() != "UTC" {
		t.Errorf("created_at = %v, want a UTC time", c.CreatedAt)
	}
	// Bob creates it too: same conversation, existed, seen by bob.
	again, existed, err := s.CreateConversation(ctx, parley.Conversation{ID: "d2", Type: parley.Direct},
		[]parley.NewMember{ms[1], ms[0]}, "ann|bob")
	if err != nil || !existed {
		t.Fatalf("create again: %v, existed=%v", err, existed)
	}
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("again (-want +got):\n%s", diff)
	}
	if _, err := s.Conversation(ctx, "d2", ann.ID); !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("d2 exists: %v", err)
	}
	_, _, err = s.CreateConversation(ctx, parley.Conversation{Type: parley.Direct},
		[]parley.NewMember{{UserID: ann.ID}, {UserID: "ghost"}}, "ann|ghost")
	if !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("with an unknown user: %v, want not_found", err)
	}
}

func TestGroupMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	ann, bob, cat, dan := mustUser(t, s, "ann"), mustUser(t, s, "bob"), mustUser(t, s, "cat"), mustUser(t, s, "dan")
	g := mustGroup(t, s, "Trip", ann, bob)
	if g.ID == "" || g.Title != "Trip" || g.Type != parley.Group || len(g.Members) != 2 {
		t.Fatalf("group = %+v", g)
	}
	if _, err := s.Conversation(ctx, g.ID, cat.ID); !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("non-member sees the group: %v", err)
	}
	added, err := s.AddMembers(ctx, g.ID, []parley.NewMember{{UserID: dan.ID, Role: parley.RoleAdmin}, {UserID: bob.ID}, {UserID: cat.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]parley.Member{member(cat, parley.RoleMember), member(dan, parley.RoleAdmin)}, added); diff != "" {
		t.Errorf("added (-want +got):\n%s", diff)
	}
	if _, err := s.AddMembers(ctx, g.ID, []parley.NewMember{{UserID: "ghost"}}); !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("adding an unknown user: %v", err)
	}
	if _, err := s.AddMembers(ctx, "nope", []parley.NewMember{{UserID: cat.ID}}); !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("adding to an unknown conversation: %v", err)
	}
	got, err := s.Conversation(ctx, g.ID, cat.ID)
	if err != nil {
		t.Fatal(err)
	}
	// joined_at, then username.
	want := []parley.Member{member(ann, parley.RoleOwner), member(bob, parley.RoleMember), member(cat, parley.RoleMember), member(dan, parley.RoleAdmin)}
	if diff := cmp.Diff(want, got.Members); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	mem, err := s.Membership(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantMem := parley.Membership{ConversationID: g.ID, Type: parley.Group, Roles: map[string]parley.Role{
		ann.ID: parley.RoleOwner, bob.ID: parley.RoleMember, cat.ID: parley.RoleMember, dan.ID: parley.RoleAdmin}}
	if diff := cmp.Diff(wantMem, mem); diff != "" {
		t.Errorf("membership (-want +got):\n%s", diff)
	}
	if _, err := s.Membership(ctx, "nope"); !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("membership of nothing: %v", err)
	}
	found, err := s.SearchMembers(ctx, g.ID, "NAME D", 10)
	if err != nil || len(found) != 1 || found[0].User != dan {
		t.Errorf("SearchMembers(NAME D) = %+v, %v", found, err)
	}
	if removed, err := s.RemoveMember(ctx, g.ID, bob.ID); err != nil || !removed {
		t.Errorf("remove bob: %v %v", removed, err)
	}
	if removed, err := s.RemoveMember(ctx, g.ID, bob.ID); err != nil || removed {
		t.Errorf("remove bob again: %v %v", removed, err)
	}
	if ids, err := s.ConversationIDs(ctx, bob.ID); err != nil || len(ids) != 0 {
		t.Errorf("bob's conversations: %v %v", ids, err)
	}
	if ids, err := s.ConversationIDs(ctx, ann.ID); err != nil || !cmp.Equal(ids, []string{g.ID}) {
		t.Errorf("ann's conversations: %v %v", ids, err)
	}
	if err := s.UpdateTitle(ctx, g.ID, "Trip 2"); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTitle(ctx, "nope", "x"); !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("title of nothing: %v", err)
	}
	if got, _ := s.Conversation(ctx, g.ID, ann.ID); got.Title != "Trip 2" {
		t.Errorf("title = %q", got.Title)
	}
}

func TestConversationListing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	ann, bob := mustUser(t, s, "ann"), mustUser(t, s, "bob")
	// Created in this order; activity then moves c1 to the front.
	c1 := mustGroup(t, s, "one", ann, bob)
	c2 := mustGroup(t, s, "two", ann, bob)
	c3 := mustGroup(t, s, "three", ann)
	mustWrite(t, s,
		newMsg(c1.ID, 10, bob.ID, "b1", "hi"),
		newMsg(c1.ID, 11, bob.ID, "b2", "there"),
		newMsg(c1.ID, 12, ann.ID, "a1", "mine"),
		newMsg(c1.ID, 13, bob.ID, "b3", "gone"),
		del(c1.ID, 14, 13, bob.ID),
		newMsg(c1.ID, 15, bob.ID, "b4", "last"),
		read(c1.ID, 16, ann.ID, 10),
	)
	ids := func(cs []parley.Conversation) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	all, next, err := s.Conversations(ctx, ann.ID, 0, "")
	if err != nil || next != "" {
		t.Fatalf("list: %v, next %q", err, next)
	}
	// c1 by its message (its time is far in the past, but all conversations
	// were created now: c1's activity is t0+15s < now). So the order is by
	// creation for c2/c3, newest first, and c1 last by its older activity.
	if diff := cmp.Diff([]string{c3.ID, c2.ID, c1.ID}, ids(all)); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	got := all[2]
	// Unread for ann: 11 and 15 (12 is hers, 13 deleted, 10 read).
	if got.UnreadCount != 2 {
		t.Errorf("unread = %d, want 2", got.UnreadCount)
	}
	if got.LastMessage == nil || got.LastMessage.Seq != 15 || got.LastMessage.Body != "last" || got.LastMessage.PrevSeq != 14 {
		t.Errorf("last message = %+v", got.LastMessage)
	}
	if all[0].LastMessage != nil || all[0].UnreadCount != 0 {
		t.Errorf("empty conversation: %+v", all[0])
	}
	bobs, _, err := s.Conversations(ctx, bob.ID, 0, "")
	if err != nil || len(bobs) != 2 || bobs[1].UnreadCount != 1 {
		t.Errorf("bob's list: %+v, %v (want c1 with 1 unread: ann's 12)", bobs, err)
	}

	// Pages of one.
	var paged []parley.Conversation
	cursor := ""
	for range 5 {
		page, next, err := s.Conversations(ctx, ann.ID, 1, cursor)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page...)
		if cursor = next; cursor == "" {
			break
		}
	}
	if diff := cmp.Diff(all, paged, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("paged (-all +paged):\n%s", diff)
	}
	if _, _, err := s.Conversations(ctx, ann.ID, 1, "!!"); parley.ErrorCode(err) != parley.CodeInvalid {
		t.Errorf("bad cursor: %v", err)
	}

	// New activity in c2 brings it first.
	mustWrite(t, s, parley.Event{Kind: parley.EventMessageNew, ConversationID: c2.ID, ActorID: bob.ID, Seq: 20,
		At: c3.CreatedAt.Add(1e9), Message: &parley.Message{SenderID: bob.ID, ClientID: "x", Body: "now", CreatedAt: c3.CreatedAt.Add(1e9)}})
	all, _, _ = s.Conversations(ctx, ann.ID, 0, "")
	if diff := cmp.Diff([]string{c2.ID, c3.ID, c1.ID}, ids(all)); diff != "" {
		t.Errorf("order after activity (-want +got):\n%s", diff)
	}
}
