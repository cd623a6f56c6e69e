-- Sign-in throttling, keyed by (nickname key, client address) and by client address:
-- one row per key that has been failing, counted and checked in one locked step.
-- Keys are bounded (a nickname key is at most 128 characters, an address at most 45)
-- and rows are pruned once their window and any block have passed.
DROP TABLE auth_login_failures;
CREATE TABLE auth_sign_in_throttle (
    key             TEXT PRIMARY KEY CHECK (char_length(key) BETWEEN 1 AND 200),
    -- Attempts counted in the current window: failures, and attempts still running.
    failures        BIGINT NOT NULL CHECK (failures >= 0),
    last_attempt_at TIMESTAMP NOT NULL,
    -- Until when every attempt for this key is refused without checking the password.
    blocked_until   TIMESTAMP
);
CREATE INDEX auth_sign_in_throttle_last_attempt_idx ON auth_sign_in_throttle (last_attempt_at);

-- Where a member's view of the conversation's events begins: the seq of the event
-- that added them (0 for those who were there from the start). A stream replays
-- nothing from before it.
ALTER TABLE chat_conversation_members ADD COLUMN joined_seq BIGINT NOT NULL DEFAULT 0;

-- A replay reads one person's conversations' events after a position, and the events
-- about them (their own removal) after one: each through its own index.
CREATE INDEX chat_events_conversation_position_idx ON chat_events (conversation_id, position);
CREATE INDEX chat_events_subject_position_idx ON chat_events (subject_user_id, position)
    WHERE subject_user_id IS NOT NULL;

-- What a person sees of their sessions: when each was last used (updated at most every
-- few minutes) and the browser or tool that signed in.
ALTER TABLE auth_sessions ADD COLUMN last_used_at TIMESTAMP;
ALTER TABLE auth_sessions ADD COLUMN user_agent TEXT CHECK (char_length(user_agent) <= 256);

-- The nickname's confusable skeleton (Unicode TS #39): "alice" with a Cyrillic "а" has
-- the same one as "alice", so only one of them can be registered. Rows from before
-- this column are filled in by natter at start-up.
ALTER TABLE auth_users ADD COLUMN nickname_skeleton TEXT CHECK (char_length(nickname_skeleton) BETWEEN 1 AND 512);
CREATE UNIQUE INDEX auth_users_nickname_skeleton_unique ON auth_users (nickname_skeleton);
