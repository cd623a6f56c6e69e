-- Server-wide settings shared by every natter node, such as the token signing key
-- generated on first start (so several nodes agree on it without configuration).
CREATE TABLE natter_settings (
    name       TEXT PRIMARY KEY CHECK (name <> ''),
    value      TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);
