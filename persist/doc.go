// Package persist is Parley's PostgreSQL adapter: the Store that edges read
// and write the control plane through (it satisfies edge.Store), the schema
// migrations runner, and the Worker, the durable JetStream consumer that
// writes the data plane (messages, edits, deletes, read markers) to
// Postgres.
//
// # Invariants
//
// Every conversation event is stored once in conv_events under its stream
// sequence, which is also its `seq`. Workers may write the events of one
// conversation out of order and more than once (several workers share the
// durable; a message is redelivered when its ack is lost), so each write is
// idempotent and order-independent: inserts ignore rows already there,
// counters move with GREATEST, and the current state of a message (latest
// edit, deletion) is computed when it is read. `prev_seq` is never stored:
// it is the greatest seq below an event's own in its conversation, found
// when the event is read, so it is right whatever order events arrived in.
//
// # Concurrency
//
// A Store is safe for concurrent use; it holds a pool of connections. A
// Worker is one consume loop: run several Workers, in one process or many,
// to share the load of the durable.
package persist
