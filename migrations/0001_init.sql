-- Parley's initial schema.
--
-- The control plane (users, refresh_tokens, conversations, members) is
-- written synchronously by the edges. The data plane (conv_events, messages,
-- message_edits, message_deletes, members.read_seq, conversations.last_*) is
-- written only by the persist workers, from stream CONV. Workers may see the
-- events of one conversation out of order and more than once, so every
-- data-plane write is idempotent and order-independent, keyed by the event's
-- stream sequence. Data-plane tables carry no foreign keys on purpose: a row
-- that could not be written would stall the consumer behind it.

CREATE TABLE users (
    id            text PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    display_name  text NOT NULL DEFAULT '',
    password_hash bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- Prefix search (LIKE 'abc%') on usernames and lower-cased display names.
CREATE INDEX users_username_prefix ON users (username text_pattern_ops);
CREATE INDEX users_display_name_prefix ON users (lower(display_name) text_pattern_ops);

CREATE TABLE refresh_tokens (
    hash        bytea PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   text NOT NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    replaced_at timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE conversations (
    id            text PRIMARY KEY,
    type          text NOT NULL CHECK (type IN ('direct', 'group')),
    title         text NOT NULL DEFAULT '',
    e2e           boolean NOT NULL DEFAULT false,
    -- Set only for direct conversations: one conversation per pair.
    direct_key    text UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Highest message seq and its time, kept by the persist workers with
    -- GREATEST so that out-of-order writes converge.
    last_seq      bigint NOT NULL DEFAULT 0,
    last_activity timestamptz
);

CREATE TABLE members (
    conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at       timestamptz NOT NULL DEFAULT now(),
    read_seq        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX members_user ON members (user_id);

-- Every stored event of every conversation: the log served on resume.
-- payload is the stream envelope (streams.Encode); seq is the stream
-- sequence. prev_seq is not stored: it is the greatest seq below this one in
-- the same conversation, found through conv_events_conversation.
CREATE TABLE conv_events (
    seq             bigint PRIMARY KEY,
    conversation_id text NOT NULL,
    kind            text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX conv_events_conversation ON conv_events (conversation_id, seq);

-- Messages as sent. The current body is the latest edit's, if any.
-- (conversation_id, sender_id, client_id) makes a retried send beyond the
-- stream's duplicate window a no-op; of two sends with one client_id, the
-- lower seq wins whatever order they are written in.
CREATE TABLE messages (
    conversation_id text NOT NULL,
    seq             bigint NOT NULL,
    sender_id       text NOT NULL,
    client_id       text NOT NULL,
    body            text NOT NULL,
    reply_to        text,
    mentions        text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, seq),
    UNIQUE (conversation_id, sender_id, client_id)
);

-- One row per edit event; the edit with the highest event_seq is current.
-- An edit may be written before the message it edits.
CREATE TABLE message_edits (
    conversation_id text NOT NULL,
    message_seq     bigint NOT NULL,
    event_seq       bigint NOT NULL,
    body            text NOT NULL,
    edited_at       timestamptz NOT NULL,
    editor_id       text NOT NULL,
    PRIMARY KEY (conversation_id, message_seq, event_seq)
);

-- A deleted message keeps its place in history, without its body.
CREATE TABLE message_deletes (
    conversation_id text NOT NULL,
    message_seq     bigint NOT NULL,
    event_seq       bigint NOT NULL,
    deleted_at      timestamptz NOT NULL,
    deleted_by      text NOT NULL,
    PRIMARY KEY (conversation_id, message_seq)
);
