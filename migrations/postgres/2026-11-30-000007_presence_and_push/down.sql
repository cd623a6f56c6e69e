DROP TABLE push_outbox;
DROP TABLE push_subscriptions;
DROP TABLE chat_presence;
DROP TABLE chat_presence_streams;
DROP TABLE natter_nodes;
DELETE FROM natter_settings WHERE name IN ('vapid_private_key', 'push_cursor');
