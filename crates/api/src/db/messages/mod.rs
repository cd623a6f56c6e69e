//! Messages and what hangs on them: sending ([`send`], where every rule of a send
//! is), history with reactions and seen-by ([`history`]), reactions ([`reactions`])
//! and seen receipts ([`receipts`]). Every function checks membership of the
//! message's conversation first, so other people's messages do not exist here.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use natter_domain::api::{Message, ReplyTo, User};
use natter_domain::{ClientId, ConversationId, MessageId, UserId};

use crate::db::clock::utc;
use crate::db::conversations::require_member;
use crate::db::models::{MemberRow, MessageRow};
use crate::db::{DbConnection, DbResult, Refusal};
use crate::schema::{chat_conversations, chat_messages};

pub mod change;
pub mod export;
pub mod history;
pub mod mentions;
pub mod reactions;
pub mod receipts;
pub mod search;
pub mod send;

/// A message the caller may see (a member of its conversation), or not found.
fn visible_message(
    conn: &mut DbConnection,
    id: MessageId,
    caller: UserId,
) -> DbResult<(MessageRow, MemberRow)> {
    let message = chat_messages::table
        .find(id.get())
        .select(MessageRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(Refusal::NotFound)?;
    let member = require_member(conn, ConversationId(message.conversation_id), caller)?;
    Ok((message, member))
}

/// Locks the conversation's row until commit (PostgreSQL; SQLite runs one writer at a
/// time anyway) and answers whether it is closed. Sends, edits, deletions and
/// reactions of a conversation all take this lock before they look at a message, so
/// they are ordered one after another: a reaction or a reply cannot slip onto a
/// message being deleted, and a deletion finds every reply committed before it.
fn lock_conversation(conn: &mut DbConnection, conversation_id: i64) -> QueryResult<bool> {
    let query = chat_conversations::table
        .find(conversation_id)
        .select(chat_conversations::closed_at);
    let closed_at: Option<NaiveDateTime> = match conn {
        DbConnection::Pg(pg) => query.for_update().first(pg)?,
        DbConnection::Sqlite(sqlite) => query.first(sqlite)?,
    };
    Ok(closed_at.is_some())
}

/// The message's row as it is now: read again after [`lock_conversation`], which may
/// have waited for a change to it.
fn current_row(conn: &mut DbConnection, id: i64) -> DbResult<MessageRow> {
    Ok(chat_messages::table
        .find(id)
        .select(MessageRow::as_select())
        .first(conn)?)
}

/// A message as its row says, without reactions and seen-by, and with only the id
/// of the message it answers (see [`history::attach_reply_targets`]).
fn bare_message(row: &MessageRow, sender: Option<User>) -> Message {
    let mut message = Message {
        id: MessageId(row.id),
        conversation_id: ConversationId(row.conversation_id),
        sender,
        content: row.content.clone(),
        client_id: row
            .client_id
            .as_deref()
            .and_then(|id| ClientId::parse(id).ok()),
        created_at: utc(row.created_at),
        version: row.version,
        edited_at: row.edited_at.map(utc),
        deleted: false,
        reply_to: row.reply_to_id.map(|id| ReplyTo {
            id: MessageId(id),
            sender: None,
            excerpt: String::new(),
            deleted: true,
        }),
        attachments: Vec::new(),
        reactions: Vec::new(),
        seen_by: Vec::new(),
    };
    if row.deleted_at.is_some() {
        message.erase(row.version);
    }
    message
}
