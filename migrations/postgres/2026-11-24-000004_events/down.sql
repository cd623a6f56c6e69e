DROP TABLE chat_events;
