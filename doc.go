// Package parley holds Parley's domain: users, conversations, members,
// messages, the events that change them, the WebSocket frames that carry them,
// validation rules and the error model. It imports only the standard library;
// every adapter (edge, persist, streams, search, client) speaks in these terms.
package parley
