package persist

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/streams"
)

// messageCols is a message's current state: the latest edit's body, or
// none at all once deleted. prev_seq is the seq of the conversation's
// previous event of any kind, found through conv_events.
const messageCols = `
	SELECT m.conversation_id, m.seq, m.client_id, m.sender_id,
		CASE WHEN d.message_seq IS NULL THEN coalesce(e.body, m.body) ELSE '' END,
		m.reply_to, m.mentions, m.created_at,
		CASE WHEN d.message_seq IS NULL THEN e.edited_at END,
		d.message_seq IS NOT NULL,
		coalesce((SELECT max(p.seq) FROM conv_events p
			WHERE p.conversation_id = m.conversation_id AND p.seq < m.seq), 0)`

// messageJoins joins a message m with its deletion d and latest edit e.
const messageJoins = `
	LEFT JOIN message_deletes d ON d.conversation_id = m.conversation_id AND d.message_seq = m.seq
	LEFT JOIN LATERAL (SELECT x.body, x.edited_at FROM message_edits x
		WHERE x.conversation_id = m.conversation_id AND x.message_seq = m.seq
		ORDER BY x.event_seq DESC LIMIT 1) e ON true`

// queryMessages runs messageCols + from + tail, where from names the
// messages m (with messageJoins) and tail filters and orders them.
func queryMessages(ctx context.Context, q querier, from, tail string, args ...any) ([]parley.Message, error) {
	rows, err := q.Query(ctx, messageCols+from+tail, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanMessage)
}

func scanMessage(row pgx.CollectableRow) (parley.Message, error) {
	var m parley.Message
	var seq, prev int64
	err := row.Scan(&m.ConversationID, &seq, &m.ClientID, &m.SenderID, &m.Body,
		&m.ReplyTo, &m.Mentions, &m.CreatedAt, &m.EditedAt, &m.Deleted, &prev)
	m.Seq, m.PrevSeq, m.ID = uint64(seq), uint64(prev), parley.MessageID(uint64(seq))
	if m.Mentions == nil {
		m.Mentions = []string{}
	}
	m.Reactions = map[string]int{}
	return m, err
}

// Messages returns up to limit (0: 50) messages of the conversation in
// ascending seq: with after > 0 the first ones after it, otherwise the last
// ones before before (0: no upper bound).
func (s *Store) Messages(ctx context.Context, cid string, page parley.Page) ([]parley.Message, error) {
	after, before, limit := page.After, page.Before, limitOr(page.Limit, 50)
	var ms []parley.Message
	err := s.read(ctx, func(q querier) (err error) {
		const from = ` FROM messages m` + messageJoins
		if page.Forward {
			ms, err = queryMessages(ctx, q, from, ` WHERE m.conversation_id = $1 AND m.seq > $2 AND ($4 = 0 OR m.seq < $4) ORDER BY m.seq LIMIT $3`,
				cid, int64(after), limit, int64(before))
			return err
		}
		ms, err = queryMessages(ctx, q, from, ` WHERE m.conversation_id = $1 AND ($2 = 0 OR m.seq < $2) ORDER BY m.seq DESC LIMIT $3`,
			cid, int64(before), limit)
		slices.Reverse(ms)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	if ms == nil {
		ms = []parley.Message{}
	}
	return ms, nil
}

// Message returns one message as it is now; not_found if it is not stored.
func (s *Store) Message(ctx context.Context, cid string, seq uint64) (parley.Message, error) {
	var ms []parley.Message
	err := s.read(ctx, func(q querier) (err error) {
		ms, err = queryMessages(ctx, q, ` FROM messages m`+messageJoins,
			` WHERE m.conversation_id = $1 AND m.seq = $2`, cid, int64(seq))
		return err
	})
	if err != nil {
		return parley.Message{}, fmt.Errorf("message: %w", err)
	}
	if len(ms) == 0 {
		return parley.Message{}, parley.Errorf(parley.CodeNotFound, "message not found")
	}
	return ms[0], nil
}

// MessageVersions returns the versions of a message's body, oldest first:
// the original (at the message's seq and time), then each edit. A deleted
// message has no versions left to show: not_found, like one never stored.
func (s *Store) MessageVersions(ctx context.Context, cid string, seq uint64) ([]parley.MessageVersion, error) {
	var vs []parley.MessageVersion
	err := s.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `
			SELECT m.seq, m.body, m.created_at FROM messages m
			WHERE m.conversation_id = $1 AND m.seq = $2
				AND NOT EXISTS (SELECT 1 FROM message_deletes d WHERE d.conversation_id = $1 AND d.message_seq = $2)
			UNION ALL
			SELECT e.event_seq, e.body, e.edited_at FROM message_edits e
			WHERE e.conversation_id = $1 AND e.message_seq = $2
				AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = $1 AND m.seq = $2)
				AND NOT EXISTS (SELECT 1 FROM message_deletes d WHERE d.conversation_id = $1 AND d.message_seq = $2)
			ORDER BY 1`, cid, int64(seq))
		if err != nil {
			return err
		}
		vs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (parley.MessageVersion, error) {
			var v parley.MessageVersion
			var seq int64
			err := row.Scan(&seq, &v.Body, &v.EditedAt)
			v.Seq = uint64(seq)
			return v, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("message versions: %w", err)
	}
	if len(vs) == 0 {
		return nil, parley.Errorf(parley.CodeNotFound, "message not found")
	}
	return vs, nil
}

// EventsSince returns stored events in ascending seq, with Seq and PrevSeq
// set: for each conversation in since, those after since[cid] and at most
// upto (0: no bound), at most limit (0: 500) in all.
func (s *Store) EventsSince(ctx context.Context, since map[string]uint64, upto uint64, limit int) ([]parley.Event, error) {
	evs := []parley.Event{}
	if len(since) == 0 {
		return evs, nil
	}
	cids, seqs := make([]string, 0, len(since)), make([]int64, 0, len(since))
	for cid, seq := range since {
		cids, seqs = append(cids, cid), append(seqs, int64(seq))
	}
	bound := int64(upto)
	if upto == 0 {
		bound = -1
	}
	err := s.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `
			SELECT e.seq, e.conversation_id, e.payload::text,
				coalesce((SELECT max(p.seq) FROM conv_events p
					WHERE p.conversation_id = e.conversation_id AND p.seq < e.seq), 0)
			FROM unnest($1::text[], $2::bigint[]) AS s(cid, since)
			JOIN conv_events e ON e.conversation_id = s.cid AND e.seq > s.since
			WHERE $3 < 0 OR e.seq <= $3
			ORDER BY e.seq LIMIT $4`, cids, seqs, bound, limitOr(limit, 500))
		if err != nil {
			return err
		}
		var seq, prev int64
		var cid, payload string
		_, err = pgx.ForEachRow(rows, []any{&seq, &cid, &payload, &prev}, func() error {
			ev, err := streams.Decode([]byte(payload))
			if err != nil {
				return fmt.Errorf("event %d: %w", seq, err)
			}
			ev.Seq, ev.PrevSeq, ev.ConversationID = uint64(seq), uint64(prev), cid
			evs = append(evs, *ev)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("events since: %w", err)
	}
	return evs, nil
}

// eventTime is when an event happened: its own time, else when the stream
// stored it.
func eventTime(ev *parley.Event, stored time.Time) time.Time {
	if !ev.At.IsZero() {
		return ev.At
	}
	return stored
}
