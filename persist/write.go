package persist

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/streams"
)

// WriteEvents stores conversation events, each with Seq set to its stream
// sequence and ConversationID set, in one transaction and one round trip.
// It is idempotent and order-independent: writing events again, or in
// another order, or split across calls, leaves the same rows. The persist
// Worker calls it for each batch; tools replaying a stream may too.
func (s *Store) WriteEvents(ctx context.Context, evs []parley.Event) error {
	if len(evs) == 0 {
		return nil
	}
	b, err := eventBatch(evs)
	if err != nil {
		return err
	}
	return s.withConn(ctx, func(c *pgx.Conn) error {
		// A batch runs as one implicit transaction: all of it or none.
		if err := c.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("write events: %w", err)
		}
		return nil
	})
}

// eventBatch builds the statements that store evs: every event into
// conv_events, and the effect of each kind on its table, with rows sorted
// by key so that concurrent batches lock them in the same order.
func eventBatch(evs []parley.Event) (*pgx.Batch, error) {
	evs = slices.Clone(evs)
	slices.SortFunc(evs, func(a, b parley.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	var (
		log     logRows
		msgs    msgRows
		edits   editRows
		deletes = map[msgKey]deleteRow{}
		reads   = map[readKey]uint64{}
		active  = map[string]activity{}
	)
	seenClient := map[clientKey]bool{}
	for i := range evs {
		ev := &evs[i]
		if ev.Seq == 0 || ev.ConversationID == "" {
			return nil, fmt.Errorf("write events: event %q without seq or conversation", ev.Kind)
		}
		payload, err := streams.Encode(ev)
		if err != nil {
			return nil, fmt.Errorf("write events: encode %d: %w", ev.Seq, err)
		}
		at := eventTime(ev, time.Now())
		log.add(ev, string(payload), at)
		switch ev.Kind {
		case parley.EventMessageNew:
			m := ev.Message
			if m == nil {
				continue
			}
			// Of two sends with one client_id, the lower seq wins: here
			// within the batch, and in SQL against rows stored before.
			k := clientKey{ev.ConversationID, m.SenderID, m.ClientID}
			if seenClient[k] {
				continue
			}
			seenClient[k] = true
			created := m.CreatedAt
			if created.IsZero() {
				created = at
			}
			if err := msgs.add(ev, m, created); err != nil {
				return nil, err
			}
			if a := active[ev.ConversationID]; ev.Seq > a.seq {
				active[ev.ConversationID] = activity{ev.Seq, created}
			}
		case parley.EventMessageEdited:
			if seq, err := parley.ParseMessageID(ev.MessageID); err == nil {
				edits.add(ev, seq, at)
			}
		case parley.EventMessageDeleted:
			if seq, err := parley.ParseMessageID(ev.MessageID); err == nil {
				k := msgKey{ev.ConversationID, seq}
				if _, ok := deletes[k]; !ok { // evs ascend: the first is the earliest
					deletes[k] = deleteRow{ev.Seq, at, ev.ActorID}
				}
			}
		case parley.EventRead:
			uid := cmp.Or(ev.UserID, ev.ActorID)
			k := readKey{ev.ConversationID, uid}
			reads[k] = max(reads[k], ev.ReadSeq)
		}
		// member.*, conversation.updated: the edge wrote their effect
		// already; they are only logged.
	}
	b := &pgx.Batch{}
	b.Queue(`
		INSERT INTO conv_events (seq, conversation_id, kind, payload, created_at)
		SELECT s, c, k, p::jsonb, a FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS t(s, c, k, p, a)
		ON CONFLICT (seq) DO NOTHING`, log.seq, log.cid, log.kind, log.payload, log.at)
	if len(msgs.seq) > 0 {
		b.Queue(`
			INSERT INTO messages (conversation_id, seq, sender_id, client_id, body, reply_to, mentions, created_at)
			SELECT c, s, snd, cli, body, r, ARRAY(SELECT jsonb_array_elements_text(mj::jsonb)), a
			FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
				AS t(c, s, snd, cli, body, r, mj, a)
			ORDER BY c, s
			ON CONFLICT (conversation_id, sender_id, client_id) DO UPDATE
			SET seq = excluded.seq, body = excluded.body, reply_to = excluded.reply_to,
				mentions = excluded.mentions, created_at = excluded.created_at
			WHERE excluded.seq < messages.seq`,
			msgs.cid, msgs.seq, msgs.sender, msgs.client, msgs.body, msgs.replyTo, msgs.mentions, msgs.at)
	}
	if len(edits.seq) > 0 {
		b.Queue(`
			INSERT INTO message_edits (conversation_id, message_seq, event_seq, body, edited_at, editor_id)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::timestamptz[], $6::text[])
			ON CONFLICT DO NOTHING`, edits.cid, edits.msgSeq, edits.seq, edits.body, edits.at, edits.editor)
	}
	if len(deletes) > 0 {
		var cid, by []string
		var msgSeq, seq []int64
		var at []time.Time
		for _, k := range sortedKeys(deletes, func(a, b msgKey) int {
			return cmp.Or(cmp.Compare(a.cid, b.cid), cmp.Compare(a.seq, b.seq))
		}) {
			d := deletes[k]
			cid, msgSeq, seq, at, by = append(cid, k.cid), append(msgSeq, int64(k.seq)), append(seq, int64(d.seq)), append(at, d.at), append(by, d.by)
		}
		b.Queue(`
			INSERT INTO message_deletes (conversation_id, message_seq, event_seq, deleted_at, deleted_by)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::text[])
			ON CONFLICT (conversation_id, message_seq) DO UPDATE
			SET event_seq = excluded.event_seq, deleted_at = excluded.deleted_at, deleted_by = excluded.deleted_by
			WHERE excluded.event_seq < message_deletes.event_seq`, cid, msgSeq, seq, at, by)
	}
	if len(reads) > 0 {
		var cid, uid []string
		var seq []int64
		for _, k := range sortedKeys(reads, func(a, b readKey) int {
			return cmp.Or(cmp.Compare(a.cid, b.cid), cmp.Compare(a.uid, b.uid))
		}) {
			cid, uid, seq = append(cid, k.cid), append(uid, k.uid), append(seq, int64(reads[k]))
		}
		b.Queue(`
			UPDATE members m SET read_seq = t.s
			FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(c, u, s)
			WHERE m.conversation_id = t.c AND m.user_id = t.u AND m.read_seq < t.s`, cid, uid, seq)
	}
	if len(active) > 0 {
		var cid []string
		var seq []int64
		var at []time.Time
		for _, k := range sortedKeys(active, cmp.Compare[string]) {
			cid, seq, at = append(cid, k), append(seq, int64(active[k].seq)), append(at, active[k].at)
		}
		b.Queue(`
			UPDATE conversations c
			SET last_seq = GREATEST(c.last_seq, t.s), last_activity = GREATEST(c.last_activity, t.a)
			FROM unnest($1::text[], $2::bigint[], $3::timestamptz[]) AS t(id, s, a)
			WHERE c.id = t.id AND (c.last_seq < t.s OR c.last_activity IS NULL OR c.last_activity < t.a)`, cid, seq, at)
	}
	return b, nil
}

type (
	clientKey struct{ cid, sender, client string }
	msgKey    struct {
		cid string
		seq uint64
	}
	readKey   struct{ cid, uid string }
	deleteRow struct {
		seq uint64
		at  time.Time
		by  string
	}
	activity struct {
		seq uint64
		at  time.Time
	}
)

// logRows are conv_events rows, column by column.
type logRows struct {
	seq                []int64
	cid, kind, payload []string
	at                 []time.Time
}

func (r *logRows) add(ev *parley.Event, payload string, at time.Time) {
	r.seq, r.cid, r.kind = append(r.seq, int64(ev.Seq)), append(r.cid, ev.ConversationID), append(r.kind, string(ev.Kind))
	r.payload, r.at = append(r.payload, payload), append(r.at, at)
}

// msgRows are messages rows, column by column; mentions as JSON arrays.
type msgRows struct {
	cid, sender, client, body, mentions []string
	seq                                 []int64
	replyTo                             []*string
	at                                  []time.Time
}

func (r *msgRows) add(ev *parley.Event, m *parley.Message, at time.Time) error {
	mentions := m.Mentions
	if mentions == nil {
		mentions = []string{}
	}
	mj, err := json.Marshal(mentions)
	if err != nil {
		return fmt.Errorf("write events: mentions of %d: %w", ev.Seq, err)
	}
	r.cid, r.seq, r.sender = append(r.cid, ev.ConversationID), append(r.seq, int64(ev.Seq)), append(r.sender, m.SenderID)
	r.client, r.body, r.replyTo = append(r.client, m.ClientID), append(r.body, m.Body), append(r.replyTo, m.ReplyTo)
	r.mentions, r.at = append(r.mentions, string(mj)), append(r.at, at)
	return nil
}

// editRows are message_edits rows, column by column.
type editRows struct {
	cid, body, editor []string
	msgSeq, seq       []int64
	at                []time.Time
}

func (r *editRows) add(ev *parley.Event, msgSeq uint64, at time.Time) {
	r.cid, r.msgSeq, r.seq = append(r.cid, ev.ConversationID), append(r.msgSeq, int64(msgSeq)), append(r.seq, int64(ev.Seq))
	r.body, r.at, r.editor = append(r.body, ev.Body), append(r.at, at), append(r.editor, ev.ActorID)
}

func sortedKeys[K comparable, V any](m map[K]V, cmp func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp)
	return keys
}
