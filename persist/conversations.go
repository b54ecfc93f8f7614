package persist

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-im/parley"
)

// CreateConversation creates a conversation and its members in one
// transaction and returns it as members[0] sees it. With a directKey, a
// conversation that already has the key is returned instead, with
// existed=true. Unknown member ids are not_found. c.ID is used if set
// (edges choose ids), else one is made; a zero c.CreatedAt means now.
func (s *Store) CreateConversation(ctx context.Context, c parley.Conversation, members []parley.NewMember, directKey string) (parley.Conversation, bool, error) {
	if len(members) == 0 {
		return parley.Conversation{}, false, parley.Errorf(parley.CodeInvalid, "a conversation needs members")
	}
	if c.ID == "" {
		c.ID = newID()
	}
	var key, created any // NULL unless set
	if directKey != "" {
		key = directKey
	}
	if !c.CreatedAt.IsZero() {
		created = c.CreatedAt
	}
	viewer := members[0].UserID
	var conv parley.Conversation
	var existed bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := requireUsers(ctx, tx, memberIDs(members)); err != nil {
			return err
		}
		id := c.ID
		err := tx.QueryRow(ctx, `
			INSERT INTO conversations (id, type, title, e2e, direct_key, created_at)
			VALUES ($1, $2, $3, $4, $5, coalesce($6, now()))
			ON CONFLICT (direct_key) DO NOTHING
			RETURNING id`, c.ID, string(c.Type), c.Title, c.E2E, key, created).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			existed = true
			err = tx.QueryRow(ctx, `SELECT id FROM conversations WHERE direct_key = $1`, directKey).Scan(&id)
		} else if err == nil {
			err = insertMembers(ctx, tx, id, members, nil)
		}
		if err != nil {
			return err
		}
		conv, err = loadConversation(ctx, tx, id, viewer)
		return err
	})
	if isUnique(err, "conversations_pkey") {
		return parley.Conversation{}, false, parley.Errorf(parley.CodeConflict, "conversation %s exists", c.ID)
	}
	if err != nil {
		return parley.Conversation{}, false, wrapInternal("create conversation", err)
	}
	return conv, existed, nil
}

// Conversation returns the conversation as viewer sees it: not_found unless
// viewer is a member.
func (s *Store) Conversation(ctx context.Context, cid, viewer string) (parley.Conversation, error) {
	var conv parley.Conversation
	err := s.read(ctx, func(q querier) (err error) {
		conv, err = loadConversation(ctx, q, cid, viewer)
		return err
	})
	if err != nil {
		return parley.Conversation{}, wrapInternal("conversation", err)
	}
	return conv, nil
}

// Conversations lists up to limit (0: 50) of viewer's conversations, latest
// activity first (the last message, or the creation of a conversation
// without messages). cursor is "" or the next of a previous page; next is ""
// on the last page.
func (s *Store) Conversations(ctx context.Context, viewer string, limit int, cursor string) ([]parley.Conversation, string, error) {
	limit = limitOr(limit, 50)
	var after *time.Time
	var afterID string
	if cursor != "" {
		t, id, err := decodeCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		after, afterID = &t, id
	}
	var convs []parley.Conversation
	var next string
	err := s.read(ctx, func(q querier) error {
		heads, err := queryHeads(ctx, q, `me.user_id = $1
			AND ($2::timestamptz IS NULL OR (coalesce(c.last_activity, c.created_at), c.id) < ($2::timestamptz, $3::text))
			ORDER BY activity DESC, c.id DESC LIMIT $4`, viewer, after, afterID, limit+1)
		if err != nil {
			return err
		}
		if len(heads) > limit {
			heads = heads[:limit]
			last := heads[limit-1]
			next = encodeCursor(last.activity, last.conv.ID)
		}
		convs, err = completeConversations(ctx, q, heads)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("conversations: %w", err)
	}
	return convs, next, nil
}

func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.UTC().Format(time.RFC3339Nano) + "|" + id))
}

func decodeCursor(cursor string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	ts, id, ok := strings.Cut(string(b), "|")
	t, terr := time.Parse(time.RFC3339Nano, ts)
	if err != nil || !ok || terr != nil {
		return time.Time{}, "", parley.Errorf(parley.CodeInvalid, "bad cursor")
	}
	return t, id, nil
}

// UpdateTitle sets a conversation's title; not_found if there is none.
func (s *Store) UpdateTitle(ctx context.Context, cid, title string) error {
	var n int64
	err := s.read(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, `UPDATE conversations SET title = $2 WHERE id = $1`, cid, title)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("update title: %w", err)
	}
	if n == 0 {
		return parley.Errorf(parley.CodeNotFound, "conversation not found")
	}
	return nil
}

// AddMembers adds the users that are not members yet and returns them,
// ordered by username. Unknown users, or an unknown conversation, are
// not_found.
func (s *Store) AddMembers(ctx context.Context, cid string, members []parley.NewMember) ([]parley.Member, error) {
	added := []parley.Member{}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM conversations WHERE id = $1 FOR SHARE`, cid).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return parley.Errorf(parley.CodeNotFound, "conversation not found")
		} else if err != nil {
			return err
		}
		if err := requireUsers(ctx, tx, memberIDs(members)); err != nil {
			return err
		}
		var ids []string
		if err := insertMembers(ctx, tx, cid, members, &ids); err != nil || len(ids) == 0 {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT u.id, u.username, u.display_name, me.role
			FROM members me JOIN users u ON u.id = me.user_id
			WHERE me.conversation_id = $1 AND me.user_id = ANY($2)
			ORDER BY u.username`, cid, ids)
		if err != nil {
			return err
		}
		added, err = pgx.CollectRows(rows, scanMember)
		return err
	})
	if err != nil {
		return nil, wrapInternal("add members", err)
	}
	return added, nil
}

// RemoveMember removes uid from the conversation and reports whether it was
// a member.
func (s *Store) RemoveMember(ctx context.Context, cid, uid string) (bool, error) {
	var n int64
	err := s.read(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, `DELETE FROM members WHERE conversation_id = $1 AND user_id = $2`, cid, uid)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("remove member: %w", err)
	}
	return n > 0, nil
}

// Membership returns who belongs to the conversation; not_found if there is
// no such conversation.
func (s *Store) Membership(ctx context.Context, cid string) (parley.Membership, error) {
	m := parley.Membership{ConversationID: cid, Roles: map[string]parley.Role{}}
	found := false
	err := s.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `
			SELECT c.type, c.e2e, me.user_id, me.role
			FROM conversations c LEFT JOIN members me ON me.conversation_id = c.id
			WHERE c.id = $1`, cid)
		if err != nil {
			return err
		}
		var typ string
		var uid, role *string
		_, err = pgx.ForEachRow(rows, []any{&typ, &m.E2E, &uid, &role}, func() error {
			found, m.Type = true, parley.ConversationType(typ)
			if uid != nil {
				m.Roles[*uid] = parley.Role(*role)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return parley.Membership{}, fmt.Errorf("membership: %w", err)
	}
	if !found {
		return parley.Membership{}, parley.Errorf(parley.CodeNotFound, "conversation not found")
	}
	return m, nil
}

// ConversationIDs returns the ids of uid's conversations.
func (s *Store) ConversationIDs(ctx context.Context, uid string) ([]string, error) {
	ids := []string{}
	err := s.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `SELECT conversation_id FROM members WHERE user_id = $1 ORDER BY conversation_id`, uid)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("conversation ids: %w", err)
	}
	return ids, nil
}

// SearchMembers returns up to limit (0: 50) members of the conversation
// whose username or display name starts with prefix, ignoring case,
// ordered by username.
func (s *Store) SearchMembers(ctx context.Context, cid, prefix string, limit int) ([]parley.Member, error) {
	ms := []parley.Member{}
	err := s.read(ctx, func(q querier) error {
		rows, err := q.Query(ctx, `
			SELECT u.id, u.username, u.display_name, me.role
			FROM members me JOIN users u ON u.id = me.user_id
			WHERE me.conversation_id = $1 AND (u.username LIKE $2 OR lower(u.display_name) LIKE $2)
			ORDER BY u.username LIMIT $3`, cid, likePrefix(strings.ToLower(prefix)), limitOr(limit, 50))
		if err != nil {
			return err
		}
		ms, err = pgx.CollectRows(rows, scanMember)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("search members: %w", err)
	}
	return ms, nil
}

func scanMember(row pgx.CollectableRow) (parley.Member, error) {
	var m parley.Member
	var role string
	err := row.Scan(&m.User.ID, &m.User.Username, &m.User.DisplayName, &role)
	m.Role = parley.Role(role)
	return m, err
}

func memberIDs(ms []parley.NewMember) []string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.UserID
	}
	return ids
}

// requireUsers answers not_found naming the first of ids that is no user.
func requireUsers(ctx context.Context, q querier, ids []string) error {
	rows, err := q.Query(ctx, `SELECT id FROM users WHERE id = ANY($1)`, ids)
	if err != nil {
		return err
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !slices.Contains(found, id) {
			return parley.Errorf(parley.CodeNotFound, "user %s not found", id)
		}
	}
	return nil
}

// insertMembers adds members that are not in the conversation yet (role
// "" means member); if added is not nil, it receives their ids.
func insertMembers(ctx context.Context, q querier, cid string, members []parley.NewMember, added *[]string) error {
	ids, roles := make([]string, len(members)), make([]string, len(members))
	for i, m := range members {
		ids[i], roles[i] = m.UserID, string(m.Role)
		if m.Role == "" {
			roles[i] = string(parley.RoleMember)
		}
	}
	rows, err := q.Query(ctx, `
		INSERT INTO members (conversation_id, user_id, role)
		SELECT $1, u, r FROM unnest($2::text[], $3::text[]) AS t(u, r)
		ON CONFLICT DO NOTHING
		RETURNING user_id`, cid, ids, roles)
	if err != nil {
		return err
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if added != nil {
		*added = got
	}
	return err
}

// head is a conversation row before its members and last message are known.
type head struct {
	conv     parley.Conversation
	activity time.Time
}

// headSQL selects the conversations of the member me, with the member's
// unread count: messages after their read marker, from others, not deleted.
const headSQL = `
	SELECT c.id, c.type, c.title, c.e2e, c.created_at,
		coalesce(c.last_activity, c.created_at) AS activity,
		(SELECT count(*) FROM messages x
			WHERE x.conversation_id = c.id AND x.seq > me.read_seq AND x.sender_id <> me.user_id
			AND NOT EXISTS (SELECT 1 FROM message_deletes d
				WHERE d.conversation_id = x.conversation_id AND d.message_seq = x.seq))
	FROM members me JOIN conversations c ON c.id = me.conversation_id
	WHERE `

func queryHeads(ctx context.Context, q querier, where string, args ...any) ([]head, error) {
	rows, err := q.Query(ctx, headSQL+where, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (head, error) {
		var h head
		var typ string
		err := row.Scan(&h.conv.ID, &typ, &h.conv.Title, &h.conv.E2E, &h.conv.CreatedAt, &h.activity, &h.conv.UnreadCount)
		h.conv.Type = parley.ConversationType(typ)
		return h, err
	})
}

func loadConversation(ctx context.Context, q querier, cid, viewer string) (parley.Conversation, error) {
	heads, err := queryHeads(ctx, q, `me.user_id = $1 AND c.id = $2`, viewer, cid)
	if err != nil {
		return parley.Conversation{}, err
	}
	if len(heads) == 0 {
		return parley.Conversation{}, parley.Errorf(parley.CodeNotFound, "conversation not found")
	}
	convs, err := completeConversations(ctx, q, heads)
	if err != nil {
		return parley.Conversation{}, err
	}
	return convs[0], nil
}

// completeConversations adds members and last messages to heads, in two
// queries whatever their number.
func completeConversations(ctx context.Context, q querier, heads []head) ([]parley.Conversation, error) {
	convs := make([]parley.Conversation, len(heads))
	index := make(map[string]int, len(heads))
	ids := make([]string, len(heads))
	for i, h := range heads {
		convs[i], index[h.conv.ID], ids[i] = h.conv, i, h.conv.ID
		convs[i].Members = []parley.Member{}
	}
	if len(heads) == 0 {
		return convs, nil
	}
	rows, err := q.Query(ctx, `
		SELECT me.conversation_id, u.id, u.username, u.display_name, me.role
		FROM members me JOIN users u ON u.id = me.user_id
		WHERE me.conversation_id = ANY($1)
		ORDER BY me.joined_at, u.username`, ids)
	if err != nil {
		return nil, err
	}
	var cid, role string
	var u parley.User
	_, err = pgx.ForEachRow(rows, []any{&cid, &u.ID, &u.Username, &u.DisplayName, &role}, func() error {
		c := &convs[index[cid]]
		c.Members = append(c.Members, parley.Member{User: u, Role: parley.Role(role)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	last, err := queryMessages(ctx, q, `
		FROM unnest($1::text[]) AS l(cid)
		CROSS JOIN LATERAL (SELECT * FROM messages
			WHERE conversation_id = l.cid ORDER BY seq DESC LIMIT 1) m`+messageJoins, "", ids)
	if err != nil {
		return nil, err
	}
	for _, m := range last {
		convs[index[m.ConversationID]].LastMessage = &m
	}
	return convs, nil
}

// wrapInternal wraps err with the operation unless it is a domain error,
// which goes to the caller as it is.
func wrapInternal(op string, err error) error {
	var pe *parley.Error
	if errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}
