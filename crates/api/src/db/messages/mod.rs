//! Messages and what hangs on them: sending ([`send`], where every rule of a send
//! is), history with reactions and seen-by ([`history`]), reactions ([`reactions`])
//! and seen receipts ([`receipts`]). Every function checks membership of the
//! message's conversation first, so other people's messages do not exist here.

use diesel::prelude::*;
use natter_domain::api::{Message, User};
use natter_domain::{ClientId, ConversationId, MessageId, UserId};

use crate::db::clock::utc;
use crate::db::conversations::require_member;
use crate::db::models::{MemberRow, MessageRow};
use crate::db::{DbConnection, DbResult, Refusal};
use crate::schema::chat_messages;

pub mod export;
pub mod history;
pub mod reactions;
pub mod receipts;
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

/// A message as its row says, without reactions and seen-by.
fn bare_message(row: &MessageRow, sender: Option<User>) -> Message {
    Message {
        id: MessageId(row.id),
        conversation_id: ConversationId(row.conversation_id),
        sender,
        content: row.content.clone(),
        client_id: row
            .client_id
            .as_deref()
            .and_then(|id| ClientId::parse(id).ok()),
        created_at: utc(row.created_at),
        reactions: Vec::new(),
        seen_by: Vec::new(),
    }
}
