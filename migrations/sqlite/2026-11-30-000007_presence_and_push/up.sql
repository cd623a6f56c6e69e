-- As migrations/postgres/2026-11-30-000007_presence_and_push.
-- Presence and Web Push.
--
-- Presence: each node keeps a row per person with a stream open on it (and when
-- they were last active there), and says it is alive; the rows of a node that
-- stops saying so are ignored, then removed. One node compares what these rows
-- make of each person with what was last announced (chat_presence) and announces
-- the changes, at most one per person per 10 seconds.
CREATE TABLE natter_nodes (
    id       TEXT PRIMARY KEY,
    alive_at TIMESTAMP NOT NULL
);
CREATE TABLE chat_presence_streams (
    user_id   BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    node_id   TEXT NOT NULL REFERENCES natter_nodes (id) ON DELETE CASCADE,
    active_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, node_id)
);
CREATE INDEX chat_presence_streams_node_idx ON chat_presence_streams (node_id);
CREATE TABLE chat_presence (
    user_id    BIGINT PRIMARY KEY REFERENCES auth_users (id) ON DELETE CASCADE,
    presence   TEXT NOT NULL CHECK (presence IN ('online', 'away', 'offline')),
    changed_at TIMESTAMP NOT NULL
);

-- Web Push: a browser's subscription (RFC 8030 endpoint, RFC 8291 keys), and the
-- pushes waiting to be delivered to one. One node drains the outbox.
CREATE TABLE push_subscriptions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    endpoint   TEXT NOT NULL UNIQUE,
    -- base64url, as the browser gives them: a P-256 point and 16 secret bytes.
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX push_subscriptions_user_idx ON push_subscriptions (user_id);
CREATE TABLE push_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id BIGINT NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    -- The notification's JSON, encrypted only when sent.
    payload         TEXT NOT NULL,
    urgency         TEXT NOT NULL CHECK (urgency IN ('very-low', 'low', 'normal', 'high')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    due_at          TIMESTAMP NOT NULL,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX push_outbox_due_idx ON push_outbox (due_at);
CREATE INDEX push_outbox_subscription_idx ON push_outbox (subscription_id);
