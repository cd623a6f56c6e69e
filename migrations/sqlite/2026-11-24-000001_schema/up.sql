-- The whole schema for SQLite, as of the PostgreSQL migrations 000001 to 000006
-- (migrations/postgres), whose comments explain each rule: the rules are the same.
-- Differences: ids are INTEGER PRIMARY KEY AUTOINCREMENT (never reused, like a
-- sequence); patterns are GLOBs; timestamps are UTC text, as Diesel writes them; an
-- event gets its stream position when it is written, since SQLite has one writer at
-- a time and so commits in the order positions are taken.

CREATE TABLE auth_users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    nickname      TEXT NOT NULL CHECK (length(nickname) BETWEEN 1 AND 32),
    nickname_key  TEXT NOT NULL CHECK (length(nickname_key) BETWEEN 1 AND 128),
    password_hash TEXT NOT NULL CHECK (password_hash <> ''),
    created_at    TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at    TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    CONSTRAINT auth_users_nickname_key_unique UNIQUE (nickname_key)
);

CREATE TABLE auth_sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    CONSTRAINT auth_sessions_expiry_after_creation CHECK (expires_at > created_at)
);
CREATE INDEX auth_sessions_user_id_idx ON auth_sessions (user_id);

CREATE TABLE auth_login_failures (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    nickname_key TEXT NOT NULL,
    failed_at    TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);
CREATE INDEX auth_login_failures_key_time_idx ON auth_login_failures (nickname_key, failed_at);

CREATE TABLE chat_conversations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    title            TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    created_by       BIGINT NOT NULL REFERENCES auth_users (id),
    created_at       TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at       TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    last_activity_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    closed_at        TIMESTAMP,
    last_event_seq   BIGINT NOT NULL DEFAULT 0 CHECK (last_event_seq >= 0)
);

CREATE TABLE chat_conversation_members (
    conversation_id      BIGINT NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
    user_id              BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    owner                BOOLEAN NOT NULL DEFAULT FALSE,
    joined_at            TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    last_seen_message_id BIGINT,
    PRIMARY KEY (conversation_id, user_id),
    CONSTRAINT chat_conversation_members_last_seen_fk
        FOREIGN KEY (conversation_id, last_seen_message_id)
        REFERENCES chat_messages (conversation_id, id)
);
CREATE UNIQUE INDEX chat_conversation_members_one_owner
    ON chat_conversation_members (conversation_id) WHERE owner;
CREATE INDEX chat_conversation_members_user_idx ON chat_conversation_members (user_id);

CREATE TABLE chat_messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id BIGINT NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
    sender_id       BIGINT NOT NULL REFERENCES auth_users (id),
    content         TEXT NOT NULL CHECK (length(content) BETWEEN 1 AND 4000),
    client_id       TEXT CHECK (client_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
    created_at      TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    CONSTRAINT chat_messages_conversation_id_unique UNIQUE (conversation_id, id),
    CONSTRAINT chat_messages_client_id_unique UNIQUE (conversation_id, sender_id, client_id)
);

CREATE TABLE chat_emojis (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    key     TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 32 AND key NOT GLOB '*[^a-z0-9_]*'),
    unicode TEXT NOT NULL CHECK (unicode <> ''),
    CONSTRAINT chat_emojis_key_unique UNIQUE (key)
);

CREATE TABLE chat_message_reactions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id BIGINT NOT NULL,
    message_id      BIGINT NOT NULL,
    user_id         BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    emoji_id        BIGINT NOT NULL REFERENCES chat_emojis (id),
    created_at      TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    FOREIGN KEY (conversation_id, message_id)
        REFERENCES chat_messages (conversation_id, id) ON DELETE CASCADE,
    CONSTRAINT chat_message_reactions_unique UNIQUE (user_id, message_id, emoji_id)
);
CREATE INDEX chat_message_reactions_message_idx ON chat_message_reactions (message_id);

CREATE TABLE chat_seen_messages (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id  BIGINT NOT NULL,
    user_id          BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    up_to_message_id BIGINT NOT NULL,
    seen_at          TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    FOREIGN KEY (conversation_id, up_to_message_id)
        REFERENCES chat_messages (conversation_id, id) ON DELETE CASCADE,
    CONSTRAINT chat_seen_messages_unique UNIQUE (conversation_id, user_id, up_to_message_id)
);
CREATE INDEX chat_seen_messages_conversation_up_to_idx
    ON chat_seen_messages (conversation_id, up_to_message_id);

CREATE TABLE chat_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id BIGINT NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL CHECK (seq > 0),
    kind            TEXT NOT NULL CHECK (kind <> ''),
    subject_user_id BIGINT REFERENCES auth_users (id) ON DELETE CASCADE,
    payload         TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    -- Unused on SQLite (PostgreSQL's stamper orders by it); kept for one schema.rs.
    txid            BIGINT NOT NULL DEFAULT 0,
    position        BIGINT,
    CONSTRAINT chat_events_conversation_seq_unique UNIQUE (conversation_id, seq),
    CONSTRAINT chat_events_position_unique UNIQUE (position)
);
CREATE INDEX chat_events_created_at_idx ON chat_events (created_at);

CREATE TABLE natter_settings (
    name       TEXT PRIMARY KEY CHECK (name <> ''),
    value      TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);

INSERT INTO chat_emojis (key, unicode) VALUES
    ('thumbs_up', '👍'),
    ('thumbs_down', '👎'),
    ('heart', '❤️'),
    ('joy', '😂'),
    ('smile', '😄'),
    ('grin', '😁'),
    ('wink', '😉'),
    ('heart_eyes', '😍'),
    ('sunglasses', '😎'),
    ('partying_face', '🥳'),
    ('thinking', '🤔'),
    ('open_mouth', '😮'),
    ('cry', '😢'),
    ('sob', '😭'),
    ('angry', '😠'),
    ('skull', '💀'),
    ('see_no_evil', '🙈'),
    ('facepalm', '🤦'),
    ('shrug', '🤷'),
    ('clap', '👏'),
    ('pray', '🙏'),
    ('raised_hands', '🙌'),
    ('wave', '👋'),
    ('ok_hand', '👌'),
    ('muscle', '💪'),
    ('eyes', '👀'),
    ('fire', '🔥'),
    ('tada', '🎉'),
    ('rocket', '🚀'),
    ('star', '⭐'),
    ('sparkles', '✨'),
    ('hundred', '💯'),
    ('check', '✅'),
    ('cross', '❌'),
    ('question', '❓'),
    ('warning', '⚠️'),
    ('bulb', '💡'),
    ('coffee', '☕'),
    ('pizza', '🍕'),
    ('beer', '🍺');
