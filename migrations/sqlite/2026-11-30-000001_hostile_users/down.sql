DROP INDEX auth_users_nickname_skeleton_unique;
ALTER TABLE auth_users DROP COLUMN nickname_skeleton;
ALTER TABLE auth_sessions DROP COLUMN user_agent;
ALTER TABLE auth_sessions DROP COLUMN last_used_at;
DROP INDEX chat_events_subject_position_idx;
DROP INDEX chat_events_conversation_position_idx;
ALTER TABLE chat_conversation_members DROP COLUMN joined_seq;
DROP TABLE auth_sign_in_throttle;
CREATE TABLE auth_login_failures (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    nickname_key TEXT NOT NULL,
    failed_at    TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);
CREATE INDEX auth_login_failures_key_time_idx ON auth_login_failures (nickname_key, failed_at);
