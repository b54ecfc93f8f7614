package edge

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/parley-im/parley"
)

// Messages are the data plane: writes are published to JetStream (the
// persist workers write Postgres); reads come from the Store after waiting
// for the persist workers to catch up with everything published before the
// read, so that a client always reads its own writes. The publish path
// (sendMessage, editMessage, deleteMessage, markRead) authorizes and
// validates itself, as it does for WebSocket frames.

func (s *Server) postMessage(c echo.Context) error {
	var req struct {
		ClientID string  `json:"client_id"`
		Body     string  `json:"body"`
		ReplyTo  *string `json:"reply_to"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.sendMessage(c.Request().Context(), userID(c), c.Param("cid"), req.ClientID, req.Body, req.ReplyTo)
	if err != nil {
		return err
	}
	normalizeMessage(&m)
	return c.JSON(http.StatusCreated, map[string]any{"message": m})
}

// listMessages pages through a conversation, ascending seq in each page.
//
//	?after_seq=N   the first limit messages after N; next_cursor, when
//	               more remain, is the after_seq of the next page.
//	otherwise      the last limit messages (before ?before_seq= if set);
//	               next_cursor, when older ones remain, is the before_seq
//	               of the previous page.
//
// With both, after_seq pages forward and stops before before_seq.
func (s *Server) listMessages(c echo.Context) error {
	after, err := querySeq(c, "after_seq")
	if err != nil {
		return err
	}
	before, err := querySeq(c, "before_seq")
	if err != nil {
		return err
	}
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	ctx, cid := c.Request().Context(), c.Param("cid")
	if _, err := s.authorize(ctx, userID(c), cid); err != nil {
		return err
	}
	if err := s.waitPersisted(ctx); err != nil {
		return err
	}
	forward := c.QueryParam("after_seq") != ""
	msgs, err := s.store.Messages(ctx, cid, parley.Page{After: after, Before: before, Forward: forward, Limit: limit + 1})
	if err != nil {
		return err
	}
	var next uint64
	if forward {
		if len(msgs) > limit {
			msgs = msgs[:limit]
			next = msgs[limit-1].Seq
		}
	} else if len(msgs) > limit {
		msgs = msgs[len(msgs)-limit:]
		next = msgs[0].Seq
	}
	if msgs == nil {
		msgs = []parley.Message{}
	}
	for i := range msgs {
		normalizeMessage(&msgs[i])
	}
	out := map[string]any{"messages": msgs}
	if next > 0 {
		out["next_cursor"] = strconv.FormatUint(next, 10)
	}
	return c.JSON(http.StatusOK, out)
}

// querySeq returns the stream sequence in the query parameter name, 0 when absent.
func querySeq(c echo.Context, name string) (uint64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, parley.Errorf(parley.CodeInvalid, "%s must be a non-negative integer", name)
	}
	return n, nil
}

// patchMessage edits a message's body (its sender only).
func (s *Server) patchMessage(c echo.Context) error {
	var req struct {
		Body string `json:"body"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.editMessage(c.Request().Context(), userID(c), c.Param("cid"), c.Param("mid"), req.Body)
	if err != nil {
		return err
	}
	normalizeMessage(&m)
	return c.JSON(http.StatusOK, map[string]any{"message": m})
}

// deleteMessageHandler deletes a message (its sender, or a group's owner or admin).
func (s *Server) deleteMessageHandler(c echo.Context) error {
	if err := s.deleteMessage(c.Request().Context(), userID(c), c.Param("cid"), c.Param("mid")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// messageHistory lists a message's versions, oldest first. A deleted
// message has no history left to show.
func (s *Server) messageHistory(c echo.Context) error {
	ctx, cid := c.Request().Context(), c.Param("cid")
	if _, err := s.authorize(ctx, userID(c), cid); err != nil {
		return err
	}
	seq, err := parley.ParseMessageID(c.Param("mid"))
	if err != nil {
		return err
	}
	if err := s.waitPersisted(ctx); err != nil {
		return err
	}
	m, err := s.store.Message(ctx, cid, seq)
	if err != nil {
		return err
	}
	versions := []parley.MessageVersion{}
	if !m.Deleted {
		vs, err := s.store.MessageVersions(ctx, cid, seq)
		if err != nil {
			return err
		}
		versions = append(versions, vs...)
	}
	return c.JSON(http.StatusOK, map[string]any{"versions": versions})
}

// postRead marks the conversation read up to seq.
func (s *Server) postRead(c echo.Context) error {
	var req struct {
		Seq uint64 `json:"seq"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := s.markRead(c.Request().Context(), userID(c), c.Param("cid"), req.Seq); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// normalizeMessage makes the JSON of m match the API: mentions and
// reactions are never null.
func normalizeMessage(m *parley.Message) {
	if m.Mentions == nil {
		m.Mentions = []string{}
	}
	if m.Reactions == nil {
		m.Reactions = map[string]int{}
	}
}
