DROP INDEX chat_events_unstamped_idx;
ALTER TABLE chat_events
    DROP CONSTRAINT chat_events_position_unique,
    DROP COLUMN position,
    DROP COLUMN txid;
