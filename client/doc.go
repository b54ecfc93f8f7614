// Package client is the Go SDK of Parley: an API for the REST calls and a
// Conn for the WebSocket protocol (docs/protocol.md).
//
//	api := client.New("http://127.0.0.1:8080")
//	if _, err := api.Login(ctx, "ada", "correct horse"); err != nil { ... }
//	conn, err := api.Connect(ctx, client.ConnOptions{})
//	defer conn.Close()
//	msg, err := conn.Send(ctx, cid, "hello")
//	for ev := range conn.Events() { ... }
//
// Errors the server answers are *parley.Error, so callers branch with
// errors.Is(err, parley.ErrNotFound) and the like. An API refreshes its
// access token once when a call answers unauthorized.
//
// # Delivery
//
// A Conn outlives its sockets. Every socket starts with a resume frame
// carrying the last cursor the Conn saw (none on the very first connect) and
// counts as connected once the server answered resumed; the server has then
// sent every event missed since that cursor. The Conn drops any event whose
// seq it already delivered for that conversation and counts (Stats.Gaps,
// ConnOptions.OnGap) every event whose prev_seq does not continue what it
// saw; it does not repair gaps.
//
// Frames that expect an answer (send, edit, delete, react, unreact, read)
// go through one ordered queue, bounded by ConnOptions.QueueSize. They are
// written only to a resumed socket, in queue order; those written but not
// answered when a socket ends are written again on the next one, ahead of
// newer frames, byte for byte (a send keeps its client_id, so the server
// stores it once). Typing and ping frames are never queued.
//
// Sockets end by Drop, GoOffline, a network failure, a read timeout, or a
// close by the server: going away (1001) moves to the next endpoint;
// unauthorized (an error frame, 1008 or 4001) refreshes the tokens first,
// and a second refusal in a row closes the Conn (see Conn.Err). Reconnects
// wait an exponential backoff with jitter.
//
// # Concurrency
//
// API and Conn are safe for concurrent use. A Conn runs these goroutines,
// each with one owner and one exit:
//
//   - run, started by Connect, owns the sockets: it dials, serves one socket
//     at a time and waits out the backoff. It returns when Close cancels it
//     or credentials are refused for good; it then fails every queued
//     frame.
//   - per socket, one reader and one writer, started and waited for by run.
//     The reader alone reads, acts on each frame, and answers WebSocket
//     pings; the writer alone writes data frames (resume, then queued
//     frames and control frames) and sends WebSocket pings. Either ends the
//     socket on an error, which ends the other.
//   - dispatch, started by Connect, hands events from an unbounded buffer to
//     Events, so that a slow reader of Events never stalls the socket, and
//     closes Events when the Conn closes.
//
// Conn.mu guards the Conn's state, the queue and the current socket; it is
// never held during I/O or while calling back (OnGap, OnError), and it is
// taken after API locks are released. The callbacks run on the reader
// goroutine and must not block. Close waits for all of the above to return.
package client
