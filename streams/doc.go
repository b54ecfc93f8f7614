// Package streams is Parley's bus contract: every JetStream stream, consumer
// and subject that Parley uses is named here and nowhere else, together with
// the envelope that travels on them. Analytics consumers read this page.
//
// # Streams
//
//	CONV  subjects conv.<p>.<cid>   every event of every conversation
//	USER  subjects user.<uid>       events addressed to one user
//
// <p> is Partition(cid), a fixed hash of the conversation id in [0, 64). It
// never changes for a conversation, so CONV can later be split by partition
// ranges into several streams (each with its own Raft leader) by
// configuration alone. The event kind travels in the payload and in the
// Parley-Kind header, never in the subject, so that all events of one
// conversation share one subject and Nats-Last-Sequence chains them.
//
// Both streams republish every stored message to a core subject:
// conv.<p>.<cid> to live.<p>.<cid>, user.<uid> to ulive.<uid>. A republished
// message carries Nats-Sequence (its stream sequence, the event's `seq`) and
// Nats-Last-Sequence (the previous sequence on the same subject, the event's
// `prev_seq`). Edges subscribe to the live subjects of the conversations and
// users they serve, so delivery implies durability: nothing is delivered
// before it is stored.
//
// A message event's Nats-Msg-Id is "<sender>:<cid>:<client_id>", so a
// retried send within the duplicate window is stored once.
//
// # Payload
//
// The payload is JSON of Envelope: {"v": 1, ...parley.Event fields}. Readers
// must ignore unknown fields and skip envelopes whose v they do not know.
//
// # Consumers
//
// "persist" is the durable pull consumer that writes Postgres. Analytics
// consumers should create their own durable with a name of their own.
//
// # Control subjects
//
// ctl.conv.<cid> (core NATS, never stored) announces that a conversation's
// membership or settings changed in Postgres, so that every edge drops what
// it cached about it.
package streams
