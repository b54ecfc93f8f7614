package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/parley-im/parley"
)

type conversationAnswer struct {
	Conversation parley.Conversation `json:"conversation"`
}

// CreateDirect returns the direct conversation with the user uid, creating
// it unless it exists.
func (a *API) CreateDirect(ctx context.Context, uid string) (parley.Conversation, error) {
	in := map[string]any{"type": parley.Direct, "members": []string{uid}}
	var out conversationAnswer
	err := a.do(ctx, http.MethodPost, "/v1/conversations", in, &out)
	return out.Conversation, err
}

// CreateGroup creates a group with the caller as owner and members (user
// ids) as members. An e2e group relays only ciphertext.
func (a *API) CreateGroup(ctx context.Context, title string, members []string, e2e bool) (parley.Conversation, error) {
	if members == nil {
		members = []string{}
	}
	in := map[string]any{"type": parley.Group, "title": title, "members": members, "e2e": e2e}
	var out conversationAnswer
	err := a.do(ctx, http.MethodPost, "/v1/conversations", in, &out)
	return out.Conversation, err
}

// Conversations returns all of the caller's conversations, most recent
// activity first, following next_cursor across pages.
func (a *API) Conversations(ctx context.Context) ([]parley.Conversation, error) {
	var all []parley.Conversation
	seen := map[string]bool{}
	cursor := ""
	for {
		q := url.Values{"limit": {"200"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var out struct {
			Conversations []parley.Conversation `json:"conversations"`
			NextCursor    string                `json:"next_cursor"`
		}
		if err := a.do(ctx, http.MethodGet, "/v1/conversations?"+q.Encode(), nil, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Conversations...)
		// A repeated cursor would loop forever; stop rather than trust it.
		if out.NextCursor == "" || seen[out.NextCursor] {
			return all, nil
		}
		seen[out.NextCursor] = true
		cursor = out.NextCursor
	}
}

// Conversation returns one conversation the caller belongs to.
func (a *API) Conversation(ctx context.Context, cid string) (parley.Conversation, error) {
	var out conversationAnswer
	err := a.do(ctx, http.MethodGet, "/v1/conversations/"+esc(cid), nil, &out)
	return out.Conversation, err
}

// Rename sets a group's title.
func (a *API) Rename(ctx context.Context, cid, title string) (parley.Conversation, error) {
	var out conversationAnswer
	err := a.do(ctx, http.MethodPatch, "/v1/conversations/"+esc(cid), map[string]string{"title": title}, &out)
	return out.Conversation, err
}

// AddMembers adds users to a group.
func (a *API) AddMembers(ctx context.Context, cid string, uids []string) error {
	return a.do(ctx, http.MethodPost, "/v1/conversations/"+esc(cid)+"/members", map[string][]string{"user_ids": uids}, nil)
}

// RemoveMember removes the user uid from a group.
func (a *API) RemoveMember(ctx context.Context, cid, uid string) error {
	return a.do(ctx, http.MethodDelete, "/v1/conversations/"+esc(cid)+"/members/"+esc(uid), nil, nil)
}

// Leave removes the caller from a group.
func (a *API) Leave(ctx context.Context, cid string) error {
	uid := a.Session().User.ID
	if uid == "" {
		me, err := a.Me(ctx)
		if err != nil {
			return err
		}
		uid = me.ID
	}
	return a.RemoveMember(ctx, cid, uid)
}

// Members returns the members of a conversation whose username starts with
// prefix (all of them for ""), for mention autocomplete.
func (a *API) Members(ctx context.Context, cid, prefix string) ([]parley.Member, error) {
	var out struct {
		Members []parley.Member `json:"members"`
	}
	path := "/v1/conversations/" + esc(cid) + "/members"
	if prefix != "" {
		path += "?q=" + url.QueryEscape(prefix)
	}
	err := a.do(ctx, http.MethodGet, path, nil, &out)
	return out.Members, err
}

// MarkRead marks the conversation read up to seq.
func (a *API) MarkRead(ctx context.Context, cid string, seq uint64) error {
	return a.do(ctx, http.MethodPost, "/v1/conversations/"+esc(cid)+"/read", map[string]uint64{"seq": seq}, nil)
}
