package edge

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/parley-im/parley"
)

// writeBuffers are shared by every socket's writes.
var writeBuffers = &sync.Pool{}

// Socket timing.
const (
	writeWait = 10 * time.Second
	pongWait  = 60 * time.Second
	pingEvery = 30 * time.Second
)

// serveWS upgrades GET /v1/ws after authenticating it and checking Origin.
func (s *Server) serveWS(c echo.Context) error {
	uid, err := s.authenticateWS(c)
	if err != nil {
		return err
	}
	up := websocket.Upgrader{
		// A small read buffer (frames are mostly small; a larger one only
		// takes more reads) and pooled write buffers held only while
		// writing, so that idle sockets stay small.
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		WriteBufferPool: writeBuffers,
		CheckOrigin:     s.checkOrigin,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			code := parley.CodeInvalid
			if status == http.StatusForbidden {
				code = parley.CodeForbidden
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": parley.ErrorBody{Code: code, Message: reason.Error()}})
		},
	}
	ws, err := up.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // the upgrader has answered
	}
	cn := newConn(s, uid, ws)
	cn.expires = s.bearerExpiry(c.Request())
	cn.wg.Add(1) // before the hub can see it, so that shutdown waits for it
	cn.startPings()
	if !s.hub.add(cn) {
		cn.pinger.Stop()
		cn.wg.Add(-1)
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeGoingAway, "server shutting down"), time.Now().Add(writeWait))
		_ = ws.Close()
		return nil
	}
	go cn.readLoop()
	return nil
}

// checkOrigin allows requests without Origin (not from a browser), the
// configured origins, and otherwise only the request's own host.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	allowed := s.cfg.AllowedOrigins
	if len(allowed) > 0 {
		return slices.Contains(allowed, "*") || slices.Contains(allowed, origin)
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// readLoop is the socket's only reader: it handles frames one at a time.
func (c *conn) readLoop() {
	defer c.wg.Done()
	defer c.close(0, "")
	c.ws.SetReadLimit(parley.MaxFrameBytes)
	_ = c.ws.SetReadDeadline(time.Now().Add(pongWait))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			// gorilla answers an oversized frame with 1009 itself.
			return
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(pongWait))
		if typ != websocket.TextMessage {
			c.replyError("", parley.Errorf(parley.CodeInvalid, "frames are JSON text messages"))
			continue
		}
		c.handle(data)
		if c.ctx.Err() != nil {
			return
		}
	}
}

func (c *conn) handle(data []byte) {
	var f parley.ClientFrame
	if err := json.Unmarshal(data, &f); err != nil {
		c.replyError("", parley.Errorf(parley.CodeInvalid, "malformed frame: %v", err))
		return
	}
	if !utf8.Valid(data) {
		// encoding/json quietly replaced the bad bytes; refuse the frame.
		c.replyError(f.Ref, parley.Errorf(parley.CodeInvalid, "frame is not valid UTF-8"))
		return
	}
	if f.Type != parley.FramePing && c.expired() {
		c.replyError(f.Ref, parley.Errorf(parley.CodeUnauthorized, "access token expired"))
		return
	}
	ctx := c.ctx
	var err error
	switch f.Type {
	case parley.FrameResume:
		// On a goroutine of its own, so that the deep stack of the backlog
		// queries is freed at once instead of staying with the idle reader.
		done := make(chan error, 1)
		go func() { done <- c.resume(ctx, f.Cursor) }()
		if err = <-done; err != nil && parley.ErrorCode(err) == parley.CodeInternal {
			c.replyError(f.Ref, err)
			c.close(closeInternal, "try again")
			return
		}
	case parley.FrameSend:
		err = c.startSend(ctx, f)
	case parley.FrameEdit:
		_, err = c.s.editMessage(ctx, c.uid, f.ConversationID, f.MessageID, f.Body)
	case parley.FrameDelete:
		err = c.s.deleteMessage(ctx, c.uid, f.ConversationID, f.MessageID)
	case parley.FrameRead:
		err = c.s.markRead(ctx, c.uid, f.ConversationID, f.Seq)
	case parley.FramePing:
		c.reply(parley.ServerFrame{Type: parley.FramePong, Ref: f.Ref})
		return
	case parley.FrameTyping, parley.FrameReact, parley.FrameUnreact:
		err = parley.Errorf(parley.CodeInvalid, "frame type %q is not supported by this server yet", f.Type)
	default:
		err = parley.Errorf(parley.CodeInvalid, "unknown frame type %q", f.Type)
	}
	switch {
	case err != nil:
		c.replyError(f.Ref, err)
	case f.Type == parley.FrameSend || f.Type == parley.FrameResume:
		// answered elsewhere: the ack once stored, or `resumed`
	default:
		c.reply(parley.ServerFrame{Type: parley.FrameAck, Ref: f.Ref})
	}
}

// startSend publishes a message without waiting, so that a client may
// pipeline its sends: they are stored in the order they were read, and each
// is acknowledged, with the stored message, once it comes back live.
func (c *conn) startSend(ctx context.Context, f parley.ClientFrame) error {
	p, err := c.s.publishMessage(ctx, c.uid, f.ConversationID, f.ClientID, f.Body, f.ReplyTo)
	if err != nil {
		return err
	}
	select {
	case c.inflight <- struct{}{}:
	case <-ctx.Done():
		p.abandon()
		return ctx.Err()
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() { <-c.inflight }()
		m, err := p.wait(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				c.replyError(f.Ref, err)
			}
			return
		}
		c.reply(parley.ServerFrame{Type: parley.FrameAck, Ref: f.Ref, Message: &m})
	}()
	return nil
}
