DROP TABLE chat_conversation_members;
DROP TABLE chat_conversations;
