// Package edge serves Parley's public API: REST through echo and the
// WebSocket protocol through gorilla/websocket. Edges are stateless: they
// authenticate, authorize every request and frame against a membership cache,
// publish data-plane events to JetStream, write the control plane to the
// Store, and forward the live events of the conversations their sockets
// belong to. Any edge can serve any user; killing one loses nothing.
//
// # Concurrency
//
// A Server is safe for concurrent use. Each socket has one reader goroutine
// (which handles the client's frames, one at a time) and one writer goroutine
// (which drains the socket's bounded send queue); a socket whose queue fills
// up is closed rather than allowed to slow anyone else. All live events enter
// through one dispatcher goroutine per server, which keeps the stream order
// and hands each event to the sockets of the conversation's members.
//
// Lock order: hub.mu before sock.mu; neither is held while doing I/O.
package edge
