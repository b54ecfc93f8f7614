package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"

	"github.com/parley-im/parley"
)

// NewClientID returns a random client_id: 16 bytes, hex encoded. Sending
// twice with the same client_id stores the message once.
func NewClientID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

type messageAnswer struct {
	Message parley.Message `json:"message"`
}

// SendMessage sends a message over REST. An empty clientID is replaced by a
// fresh one; pass the same one again to retry safely. An empty replyTo means
// the message replies to none.
func (a *API) SendMessage(ctx context.Context, cid, clientID, body, replyTo string) (parley.Message, error) {
	if clientID == "" {
		clientID = NewClientID()
	}
	in := struct {
		ClientID string  `json:"client_id"`
		Body     string  `json:"body"`
		ReplyTo  *string `json:"reply_to,omitempty"`
	}{ClientID: clientID, Body: body}
	if replyTo != "" {
		in.ReplyTo = &replyTo
	}
	var out messageAnswer
	err := a.do(ctx, http.MethodPost, "/v1/conversations/"+esc(cid)+"/messages", in, &out)
	return out.Message, err
}

// Messages returns messages in ascending seq: with after > 0 the first limit
// after it, otherwise the last limit before before (0: the newest). limit 0
// means the server's default (50).
func (a *API) Messages(ctx context.Context, cid string, after, before uint64, limit int) ([]parley.Message, error) {
	q := url.Values{}
	if after > 0 {
		q.Set("after_seq", strconv.FormatUint(after, 10))
	}
	if before > 0 {
		q.Set("before_seq", strconv.FormatUint(before, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/v1/conversations/" + esc(cid) + "/messages"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out struct {
		Messages []parley.Message `json:"messages"`
	}
	err := a.do(ctx, http.MethodGet, path, nil, &out)
	return out.Messages, err
}

// EditMessage replaces the body of one of the caller's messages.
func (a *API) EditMessage(ctx context.Context, cid, mid, body string) (parley.Message, error) {
	var out messageAnswer
	err := a.do(ctx, http.MethodPatch, messagePath(cid, mid), map[string]string{"body": body}, &out)
	return out.Message, err
}

// DeleteMessage deletes a message (the sender's own, or any as a group
// admin or owner).
func (a *API) DeleteMessage(ctx context.Context, cid, mid string) error {
	return a.do(ctx, http.MethodDelete, messagePath(cid, mid), nil, nil)
}

// MessageHistory returns every version of a message's body, oldest first.
func (a *API) MessageHistory(ctx context.Context, cid, mid string) ([]parley.MessageVersion, error) {
	var out struct {
		Versions []parley.MessageVersion `json:"versions"`
	}
	err := a.do(ctx, http.MethodGet, messagePath(cid, mid)+"/history", nil, &out)
	return out.Versions, err
}

func messagePath(cid, mid string) string {
	return "/v1/conversations/" + esc(cid) + "/messages/" + esc(mid)
}
