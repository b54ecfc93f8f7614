package parley

import "encoding/json"

// Frame types of the WebSocket protocol (docs/protocol.md).
const (
	FrameResume  = "resume"
	FrameSend    = "send"
	FrameEdit    = "edit"
	FrameDelete  = "delete"
	FrameReact   = "react"
	FrameUnreact = "unreact"
	FrameRead    = "read"
	FrameTyping  = "typing"
	FramePing    = "ping"

	FrameAck     = "ack"
	FrameError   = "error"
	FrameEvent   = "event"
	FrameResumed = "resumed"
	FramePong    = "pong"
)

// ClientFrame is a frame sent by a client. Which fields matter depends on Type.
type ClientFrame struct {
	Type           string  `json:"type"`
	Ref            string  `json:"ref,omitempty"`
	Cursor         string  `json:"cursor,omitempty"`
	ConversationID string  `json:"conversation_id,omitempty"`
	ClientID       string  `json:"client_id,omitempty"`
	Body           string  `json:"body,omitempty"`
	ReplyTo        *string `json:"reply_to,omitempty"`
	MessageID      string  `json:"message_id,omitempty"`
	Emoji          string  `json:"emoji,omitempty"`
	Seq            uint64  `json:"seq,omitempty"`
}

// ServerFrame is a frame sent by the server.
type ServerFrame struct {
	Type           string          `json:"type"`
	Ref            string          `json:"ref,omitempty"`
	Message        *Message        `json:"message,omitempty"`
	Error          *ErrorBody      `json:"error,omitempty"`
	Event          EventKind       `json:"event,omitempty"`
	ConversationID string          `json:"conversation_id,omitempty"`
	Seq            uint64          `json:"seq,omitempty"`
	PrevSeq        uint64          `json:"prev_seq,omitempty"`
	Cursor         string          `json:"cursor,omitempty"`
	Data           json.RawMessage `json:"data,omitempty"`
}

// ErrorBody is the `error` object of an HTTP error answer and of an error frame.
type ErrorBody struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}
