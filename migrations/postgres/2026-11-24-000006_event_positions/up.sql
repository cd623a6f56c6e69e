-- Stream positions. Event ids come from a sequence, and sequence values do not
-- commit in order: "events after id N" would skip an event whose transaction
-- committed late. Instead one stamper at a time (an advisory lock) gives committed
-- events a gapless global position, taking only events of transactions older than
-- every transaction still running (pg_snapshot_xmin), in (conversation, seq) order.
-- Positions therefore become visible in order, and a stream's cursor is one number.
ALTER TABLE chat_events
    ADD COLUMN txid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    ADD COLUMN position BIGINT,
    ADD CONSTRAINT chat_events_position_unique UNIQUE (position);
CREATE INDEX chat_events_unstamped_idx ON chat_events (txid) WHERE position IS NULL;
