//! Rows as Diesel reads and writes them. Insert structs borrow.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{
    auth_sessions, auth_users, chat_conversation_members, chat_conversations, chat_emojis,
    chat_events, chat_messages,
};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = auth_users, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct UserRow {
    pub id: i64,
    pub nickname: String,
    pub password_hash: String,
    pub admin: bool,
    pub disabled_at: Option<NaiveDateTime>,
    pub share_read_receipts: bool,
    pub share_presence: bool,
}

#[derive(Insertable)]
#[diesel(table_name = auth_users)]
pub struct NewUser<'a> {
    pub nickname: &'a str,
    pub nickname_key: &'a str,
    pub nickname_skeleton: &'a str,
    pub password_hash: &'a str,
    pub admin: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = auth_sessions, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub user_agent: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = auth_sessions)]
pub struct NewSession<'a> {
    pub user_id: i64,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub user_agent: Option<&'a str>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = chat_conversations, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct ConversationRow {
    pub id: i64,
    pub title: String,
    pub created_at: NaiveDateTime,
    pub last_activity_at: NaiveDateTime,
    pub closed_at: Option<NaiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = chat_conversations)]
pub struct NewConversation<'a> {
    pub title: &'a str,
    pub created_by: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = chat_conversation_members, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct MemberRow {
    pub conversation_id: i64,
    pub user_id: i64,
    pub owner: bool,
    pub last_seen_message_id: Option<i64>,
}

#[derive(Insertable)]
#[diesel(table_name = chat_conversation_members)]
pub struct NewMember {
    pub conversation_id: i64,
    pub user_id: i64,
    pub owner: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = chat_messages, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct MessageRow {
    pub id: i64,
    pub conversation_id: i64,
    /// `None` once the sender's account is deleted.
    pub sender_id: Option<i64>,
    /// Empty once deleted.
    pub content: String,
    pub client_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub version: i64,
    pub edited_at: Option<NaiveDateTime>,
    pub deleted_at: Option<NaiveDateTime>,
    pub reply_to_id: Option<i64>,
}

#[derive(Insertable)]
#[diesel(table_name = chat_messages)]
pub struct NewMessage<'a> {
    pub conversation_id: i64,
    pub sender_id: i64,
    pub content: &'a str,
    pub client_id: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub reply_to_id: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = chat_emojis, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct EmojiRow {
    pub id: i64,
    pub key: String,
    pub unicode: String,
}

#[derive(Insertable)]
#[diesel(table_name = chat_events)]
pub struct NewEvent<'a> {
    pub conversation_id: i64,
    pub seq: i64,
    pub kind: &'a str,
    pub subject_user_id: Option<i64>,
    pub payload: &'a str,
    /// Set at once on SQLite; PostgreSQL's stamper sets it after commit.
    pub position: Option<i64>,
    /// The message whose text the payload carries, if any.
    pub message_id: Option<i64>,
}
